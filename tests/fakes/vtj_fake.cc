// vtj_fake: the VTJ change-data interface test double (tests/fakes/vtj_fake_server.h) as a
// process, for end-to-end tests and manual poking with curl.
//
//   vtj_fake [--port N] [--address A] [--username U] [--password P] [--page-size N]
//            [--base-key K] [--data FILE] [--population DIR]
//
// DIR is a demo city (`ennakko demo generate`): its snapshot is served by perustiedot and its
// change batches are the muutokset log (tests/fakes/demo_city_source.h); the numbers loaded go to
// stderr.
// Prints the bound port on the first line of stdout (then flushes), serves until SIGINT/SIGTERM,
// and exits 0; exits 2 on a usage error, 1 when FILE cannot be loaded or the port bound.
// Identity codes are never logged.
#include <iostream>
#include <string>

#include "tests/fakes/demo_city_source.h"
#include "tests/fakes/serve_until_signal.h"
#include "tests/fakes/vtj_fake_server.h"

namespace {

int Usage(const std::string& why) {
  std::cerr << "vtj_fake: " << why << "\n"
            << "usage: vtj_fake [--port N] [--address A] [--username U] [--password P]\n"
            << "       [--page-size N] [--base-key K] [--data FILE] [--population DIR]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ennakko::VtjFakeOptions options;
  std::string population;
  try {
    for (int i = 1; i < argc; ++i) {
      std::string flag = argv[i];
      if (i + 1 >= argc) return Usage("missing value for " + flag);
      std::string value = argv[++i];
      if (flag == "--port") {
        options.port = static_cast<uint16_t>(std::stoi(value));
      } else if (flag == "--address") {
        options.address = value;
      } else if (flag == "--username") {
        options.username = value;
      } else if (flag == "--password") {
        options.password = value;
      } else if (flag == "--page-size") {
        options.page_size = std::stoul(value);
      } else if (flag == "--base-key") {
        options.base_key = std::stoll(value);
      } else if (flag == "--data") {
        options.data_file = value;
      } else if (flag == "--population") {
        population = value;
      } else {
        return Usage("unknown flag " + flag);
      }
    }
  } catch (const std::exception&) {
    return Usage("bad number");
  }

  const sigset_t signals = ennakko::BlockStopSignals();  // before the server's threads start

  ennakko::VtjFake fake(options);
  if (!population.empty()) {
    auto city = ennakko::VtjDataFromDemoCity(population);
    if (!city.ok()) return Usage(city.status().message());
    // The log first, then the snapshot over the state the log left: perustiedot answers as of
    // the snapshot (a newborn of the change batches is not yet on its parents' records) and
    // muutokset tells what happened after it.
    if (auto k = fake.AppendChanges(city->muutokset); !k.ok()) return Usage(k.status().message());
    if (auto s = fake.SetPersons(city->henkilot); !s.ok()) return Usage(s.message());
    std::cerr << "vtj_fake: " << city->persons << " persons, " << city->changes << " changes ("
              << city->skipped_lines << " lines skipped)\n";
  }
  return ennakko::ServeUntilSignal("vtj_fake", fake, signals);
}
