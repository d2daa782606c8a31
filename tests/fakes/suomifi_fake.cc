// suomifi_fake: the Suomi.fi Messages test double (tests/fakes/suomifi_fake_server.h) as a process,
// for end-to-end tests and manual poking with curl.
//
//   suomifi_fake [--port N] [--address A] [--username U] [--password P] [--token-lifetime SECONDS]
//                [--active-mailboxes odd|all|none|FILE] [--events-page-size N]
//
// Prints the bound port on the first line of stdout (then flushes), serves until SIGINT/SIGTERM,
// and exits 0; exits 2 on a usage error. FILE lists one active identity code a line. Identity codes
// are never logged.
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <string>

#include "tests/fakes/serve_until_signal.h"
#include "tests/fakes/suomifi_fake_server.h"

namespace {

int Usage(const std::string& why) {
  std::cerr << "suomifi_fake: " << why << "\n"
            << "usage: suomifi_fake [--port N] [--address A] [--username U] [--password P]\n"
            << "       [--token-lifetime SECONDS] [--active-mailboxes odd|all|none|FILE]\n"
            << "       [--events-page-size N]\n";
  return 2;
}

}  // namespace

int main(int argc, char** argv) {
  using ennakko::SuomiFiFakeOptions;
  SuomiFiFakeOptions options;
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
      } else if (flag == "--token-lifetime") {
        options.token_lifetime = std::chrono::seconds(std::stoll(value));
      } else if (flag == "--events-page-size") {
        options.events_page_size = std::stoul(value);
      } else if (flag == "--active-mailboxes") {
        if (value == "odd") {
          options.mailboxes = SuomiFiFakeOptions::Mailboxes::kOddIndividualNumber;
        } else if (value == "all") {
          options.mailboxes = SuomiFiFakeOptions::Mailboxes::kAll;
        } else if (value == "none") {
          options.mailboxes = SuomiFiFakeOptions::Mailboxes::kNone;
        } else {
          std::ifstream in(value);
          if (!in) return Usage("cannot read " + value);
          options.mailboxes = SuomiFiFakeOptions::Mailboxes::kList;
          for (std::string line; std::getline(in, line);) {
            while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.pop_back();
            if (!line.empty()) options.active_ids.insert(line);
          }
        }
      } else {
        return Usage("unknown flag " + flag);
      }
    }
  } catch (const std::exception&) {
    return Usage("bad number");
  }

  const sigset_t signals = ennakko::BlockStopSignals();  // before the server's threads start

  ennakko::SuomiFiFake fake(options);
  return ennakko::ServeUntilSignal("suomifi_fake", fake, signals);
}
