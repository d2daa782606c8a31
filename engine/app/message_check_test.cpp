#include "engine/app/message_check.h"

#include <filesystem>
#include <fstream>
#include <sstream>

#include <unistd.h>

#include <catch2/catch.hpp>

using namespace ennakko;
namespace fs = std::filesystem;

TEST_CASE("rules check reports SMS encoding and parts per language and warns above 3 parts", "[rules][sms]") {
  fs::path dir = fs::temp_directory_path() / ("ennakko-sms-size-" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "r");
  std::ofstream(dir / "r/rule.yaml") << "title: {fi: Testi}\noffer: {channels: [suomifi, sms], messages: messages.yaml}\n";
  std::string long_ucs2;
  for (int i = 0; i < 30; ++i) long_ucs2 += "Привет ";  // Cyrillic: UCS-2, 210 characters, with "S R O" 215: 4 parts of 67
  std::ofstream(dir / "r/messages.yaml")
      << "fi:\n  title: T\n  sender: S\n  reason: R\n  objection: O\n"
         "  body: \"Hei {{child_first_name}} {{reply_code}} {{sender}} {{reason}} {{objection}}\"\n"
         "en:\n  title: T\n  sender: S\n  reason: R\n  objection: O\n"
         "  body: \"" << long_ucs2 << "{{sender}} {{reason}} {{objection}}\"\n";
  std::ostringstream out;
  Diagnostics diags;
  ReportSmsSizes({dir.string()}, out, diags);
  const std::string m = (dir / "r/messages.yaml").string();
  INFO(out.str() << diags.ToString());
  // "Hei Aleksandra KQ7A S R O": 25 characters, one GSM-7 part.
  CHECK(out.str().find(m + ": fi: GSM-7, 1 SMS part (25 characters with sample values)") != std::string::npos);
  CHECK(out.str().find(m + ": en: UCS-2, 4 SMS parts (215 characters with sample values)") != std::string::npos);
  REQUIRE(diags.items().size() == 1);
  CHECK(diags.items()[0].severity == Severity::kWarning);
  CHECK(diags.ToString().find(m + ":12:9: warning: the en body needs 4 SMS parts (UCS-2)") != std::string::npos);
  CHECK_FALSE(diags.has_errors());

  // A rule that does not send SMS is not measured.
  std::ofstream(dir / "r/rule.yaml") << "title: {fi: Testi}\noffer: {channels: [suomifi], messages: messages.yaml}\n";
  std::ostringstream none;
  Diagnostics d2;
  ReportSmsSizes({(dir / "r").string()}, none, d2);
  CHECK(none.str().empty());
  CHECK(d2.items().empty());
  fs::remove_all(dir);
}
