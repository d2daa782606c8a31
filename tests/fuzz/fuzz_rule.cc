// libFuzzer target: the rule loader, CheckRuleText (YAML -> JSON with positions -> JSON Schema ->
// expressions -> declared data -> message templates).
//
// The input is a rule file. The rule is "located" in a private temporary directory, so an
// `offer.messages` it names is looked up there: normally nothing is there and the loader just
// reports it. When the input has a line that is exactly
//   #--- messages.yaml
// the text after that line is written to messages.yaml in that directory first, so message
// templates (placeholders, braces) are fuzzed too; the line is a YAML comment, so the rule part
// parses the same either way.
//
// An input with two NUL bytes is a template that stands for up to 64 KiB (see expand.h), e.g. a
// message body of 40 KB or YAML nested 30,000 deep.
//
// Nothing may escape: no exception, crash, hang or sanitizer report, and every problem must come
// back as a diagnostic with a non-empty message.
//
// Build and run: tests/fuzz/run.sh (see tests/fuzz/README.md).
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include "engine/lang/diagnostics.h"
#include "engine/lang/rule.h"
#include "tests/fuzz/expand.h"

namespace {

using namespace ennakko;
namespace fs = std::filesystem;

constexpr const char kSeparator[] = "\n#--- messages.yaml\n";
constexpr size_t kExpandTo = 64 * 1024;

fs::path g_dir;

[[noreturn]] void Fail(const char* what, const std::string& detail) {
  std::fprintf(stderr, "fuzz_rule: invariant broken: %s: %s\n", what, detail.c_str());
  std::abort();
}

void RemoveDir() {
  std::error_code ec;
  if (!g_dir.empty()) fs::remove_all(g_dir, ec);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  std::string tmpl = (fs::temp_directory_path() / "ennakko-fuzz-rule.XXXXXX").string();
  if (!mkdtemp(tmpl.data())) {
    std::perror("fuzz_rule: mkdtemp");
    std::exit(2);
  }
  g_dir = tmpl;
  std::atexit(RemoveDir);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text = fuzz::Expand(data, size, kExpandTo);
  const fs::path messages = g_dir / "messages.yaml";
  std::error_code ec;
  if (size_t cut = text.find(kSeparator); cut != std::string::npos) {
    std::ofstream(messages, std::ios::binary | std::ios::trunc) << text.substr(cut + sizeof(kSeparator) - 1);
    text.resize(cut + 1);
  } else {
    fs::remove(messages, ec);
  }

  Diagnostics diags;
  Status st = CheckRuleText(text, (g_dir / "rule.yaml").string(), diags);
  if (!st.ok() && !diags.has_errors()) Fail("error status without an error diagnostic", st.ToString());
  for (const auto& d : diags.items()) {
    if (d.message.empty()) Fail("diagnostic without a message", text);
  }
  (void)diags.ToString();  // sorted rendering, as `ennakko rules check` prints it
  return 0;
}
