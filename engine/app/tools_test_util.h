// Test-only helpers for the rule-author and operator tools (rules test, explain, simulate): a
// scratch directory removed on destruction, and a copy of the shipped rules to edit. Not
// thread-safe; each test case makes its own.
#pragma once

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

namespace ennakko::tools_testing {

class TempDir {
 public:
  TempDir() {
    static std::atomic<int> counter{0};
    auto stamp = std::chrono::steady_clock::now().time_since_epoch().count();
    path_ = std::filesystem::temp_directory_path() / ("ennakko-tools-" + std::to_string(::getpid()) + "-" +
                                                      std::to_string(stamp) + "-" + std::to_string(counter++));
    std::filesystem::create_directories(path_);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::string File(const std::string& name) const { return (path_ / name).string(); }

 private:
  std::filesystem::path path_;
};

inline void WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Copies the shipped rules (without their tests) to `to`.
inline void CopyShippedRules(const std::filesystem::path& to) {
  namespace fs = std::filesystem;
  fs::copy(ENNAKKO_SOURCE_ROOT "/rules", to, fs::copy_options::recursive);
  for (const auto& e : fs::directory_iterator(to)) fs::remove_all(e.path() / "tests");
}

}  // namespace ennakko::tools_testing
