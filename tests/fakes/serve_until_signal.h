// The shared tail of the test doubles' executables (vtj_fake, incomes_fake, suomifi_fake): block
// SIGINT/SIGTERM before any server thread starts, start the double, print its port on the first
// line of stdout (tests read it), serve until one of those signals arrives, then stop and exit 0.
#pragma once

#include <pthread.h>

#include <csignal>
#include <iostream>
#include <string_view>

namespace ennakko {

// Call first in main(), before a double starts its threads: they inherit the blocked mask, so the
// signal reaches the sigwait below instead of killing the process.
inline sigset_t BlockStopSignals() {
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  return signals;
}

// Returns the process exit code: 1 when the double cannot start (the port taken, ...), else 0.
template <typename Fake>
int ServeUntilSignal(std::string_view name, Fake& fake, const sigset_t& signals) {
  if (auto s = fake.Start(); !s.ok()) {
    std::cerr << name << ": " << s.ToString() << "\n";
    return 1;
  }
  std::cout << fake.port() << std::endl;
  int sig = 0;
  sigwait(&signals, &sig);
  fake.Stop();
  return 0;
}

}  // namespace ennakko
