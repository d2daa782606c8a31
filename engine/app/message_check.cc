#include "engine/app/message_check.h"

#include <algorithm>
#include <filesystem>

#include <fmt/format.h>

#include "connectors/channels/sms_encoding.h"
#include "engine/dispatch/dispatcher.h"
#include "engine/lang/yaml_source.h"

namespace fs = std::filesystem;

namespace ennakko {

namespace {

std::vector<fs::path> RuleFiles(const std::vector<std::string>& paths) {
  std::vector<fs::path> out;
  for (const auto& p : paths) {
    fs::path path(p);
    std::error_code ec;
    if (fs::is_directory(path, ec)) {
      if (fs::exists(path / "rule.yaml")) {
        out.push_back(path / "rule.yaml");
        continue;
      }
      std::vector<fs::path> found;
      for (const auto& e : fs::directory_iterator(path, ec)) {
        if (e.is_directory() && fs::exists(e.path() / "rule.yaml")) found.push_back(e.path() / "rule.yaml");
      }
      std::sort(found.begin(), found.end());
      out.insert(out.end(), found.begin(), found.end());
    } else if (fs::is_regular_file(path, ec)) {
      out.push_back(path);
    }
  }
  return out;
}

// Characters (code points) of UTF-8 text.
size_t Characters(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

}  // namespace

void ReportSmsSizes(const std::vector<std::string>& paths, std::ostream& out, Diagnostics& diags) {
  for (const fs::path& rule_file : RuleFiles(paths)) {
    Diagnostics ignored;  // the loader reports these files' problems itself
    auto rule_doc = LoadYamlFile(rule_file.string(), ignored);
    if (!rule_doc.ok()) continue;
    const nlohmann::json& r = rule_doc->json();
    const nlohmann::json* channels = r.contains("offer") && r["offer"].is_object() && r["offer"].contains("channels")
                                         ? &r["offer"]["channels"] : nullptr;
    if (!channels || !channels->is_array() ||
        std::find(channels->begin(), channels->end(), nlohmann::json("sms")) == channels->end()) {
      continue;
    }
    if (!r["offer"].contains("messages") || !r["offer"]["messages"].is_string()) continue;
    const fs::path messages_file = rule_file.parent_path() / r["offer"]["messages"].get<std::string>();
    auto doc = LoadYamlFile(messages_file.string(), ignored);
    if (!doc.ok() || !doc->json().is_object()) continue;
    RuleSpec spec;
    for (const auto& [lang, m] : doc->json().items()) {
      if (!m.is_object() || !m.contains("body") || !m["body"].is_string()) continue;
      auto text = [&](const char* key) { return m.contains(key) && m[key].is_string() ? m[key].get<std::string>() : ""; };
      spec.messages[lang] = {text("title"), text("body"), text("sender"), text("reason"), text("objection")};
    }
    for (const auto& [lang, tmpl] : spec.messages) {
      std::string title;
      if (r.contains("title") && r["title"].is_object()) {
        const auto& t = r["title"];
        title = t.contains(lang) && t[lang].is_string() ? t[lang].get<std::string>()
                : t.contains("fi") && t["fi"].is_string() ? t["fi"].get<std::string>() : "";
      }
      RenderedMessage m = RenderMessage(spec, lang, {{"child_first_name", "Aleksandra"}, {"period", "2026"},
                                                     {"service_title", title}, {"reply_code", "KQ7A"}});
      const bool gsm = IsGsm7(m.body);
      const int parts = SmsParts(m.body);
      out << fmt::format("{}: {}: {}, {} SMS part{} ({} characters with sample values)\n", messages_file.string(), lang,
                         gsm ? "GSM-7" : "UCS-2", parts, parts == 1 ? "" : "s", Characters(m.body));
      if (parts > kSmsPartsWarning) {
        diags.Warning(doc->At("/" + lang + "/body"),
                      fmt::format("the {} body needs {} SMS parts ({}) with sample values; more than {} is too long for SMS",
                                  lang, parts, gsm ? "GSM-7" : "UCS-2", kSmsPartsWarning),
                      gsm ? "shorten the text" : "shorten the text, or avoid characters outside GSM-7 (they force UCS-2: 70 characters a part)");
      }
    }
  }
}

}  // namespace ennakko
