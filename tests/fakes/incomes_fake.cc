// incomes_fake: the Incomes Register data-user test double (tests/fakes/incomes_fake_server.h) as a
// process, for end-to-end tests, the demo and manual poking with curl.
//
//   incomes_fake [--port N] [--address A] [--username U] [--password P] [--purposes P1,P2]
//                [--data FILE] [--population DIR [--today YYYY-MM-DD]]
//
// FILE holds reports in the /_test/reports format (<IncomesFakeData> with DeliveryData elements).
// DIR is a demo city (`ennakko demo generate`): the double also serves earnings reports of the
// previous month for most guardians of its children in ECEC (tests/fakes/demo_city_source.h);
// `today` defaults to today in Helsinki. The numbers loaded go to stderr.
// Prints the bound port on the first line of stdout (then flushes), serves until SIGINT/SIGTERM,
// and exits 0; exits 2 on a usage error, 1 when it cannot start. Nothing is logged.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "engine/base/date.h"
#include "tests/fakes/demo_city_source.h"
#include "tests/fakes/serve_until_signal.h"
#include "tests/fakes/incomes_fake_server.h"

namespace {

int Usage(const std::string& why) {
  std::cerr << "incomes_fake: " << why << "\n"
            << "usage: incomes_fake [--port N] [--address A] [--username U] [--password P]\n"
            << "       [--purposes P1,P2] [--data FILE] [--population DIR [--today D]]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  ennakko::IncomesFakeOptions options;
  std::string data;
  std::string population;
  ennakko::Date today = ennakko::SystemClock().Today();
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
      } else if (flag == "--purposes") {
        options.permitted_purposes.clear();
        std::stringstream ss(value);
        for (std::string p; std::getline(ss, p, ',');) {
          if (!p.empty()) options.permitted_purposes.insert(p);
        }
      } else if (flag == "--population") {
        population = value;
      } else if (flag == "--today") {
        auto d = ennakko::Date::Parse(value);
        if (!d) return Usage("--today must be YYYY-MM-DD");
        today = *d;
      } else if (flag == "--data") {
        std::ifstream in(value);
        if (!in) return Usage("cannot read " + value);
        std::stringstream ss;
        ss << in.rdbuf();
        data = ss.str();
      } else {
        return Usage("unknown flag " + flag);
      }
    }
  } catch (const std::exception&) {
    return Usage("bad number");
  }

  const sigset_t signals = ennakko::BlockStopSignals();  // before the server's threads start

  ennakko::IncomesFake fake(options);
  if (!data.empty()) {
    if (auto s = fake.AddReports(data); !s.ok()) return Usage(s.message());
  }
  if (!population.empty()) {
    auto earnings = ennakko::EarningsReportsFromDemoCity(population, today);
    if (!earnings.ok()) return Usage(earnings.status().message());
    if (auto s = fake.AddReports(earnings->xml); !s.ok()) return Usage(s.message());
    std::cerr << "incomes_fake: earnings reports for " << earnings->with_reports << " of "
              << earnings->guardians << " guardians of children in ECEC\n";
  }
  return ennakko::ServeUntilSignal("incomes_fake", fake, signals);
}
