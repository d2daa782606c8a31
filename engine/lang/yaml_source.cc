#include "engine/lang/yaml_source.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <yaml-cpp/yaml.h>

namespace ennakko {

namespace {

SourceLocation Loc(const std::string& file, const YAML::Mark& m) {
  return {file, m.line + 1, m.column + 1};
}

// YAML 1.2 core schema resolution of a plain scalar.
nlohmann::json ResolvePlain(const std::string& s) {
  if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") return nullptr;
  if (s == "true" || s == "True" || s == "TRUE") return true;
  if (s == "false" || s == "False" || s == "FALSE") return false;
  char* end = nullptr;
  errno = 0;
  long long i = std::strtoll(s.c_str(), &end, 10);
  if (end && *end == '\0' && errno == 0 && (std::isdigit(s[0]) || s[0] == '-' || s[0] == '+')) return i;
  bool looks_float = !s.empty() && (std::isdigit(static_cast<unsigned char>(s[0])) || s[0] == '-' ||
                                    s[0] == '+' || s[0] == '.');
  if (looks_float) {
    double d = std::strtod(s.c_str(), &end);
    if (end && *end == '\0') return d;
  }
  return s;
}

// Bounds on what a document may expand to. Aliases make a small file a huge (or, with a
// self-reference, infinite) tree; rule and config files are small and shallow.
constexpr int kMaxDepth = 64;
constexpr size_t kMaxNodes = 200000;

struct ConvertState {
  size_t nodes = 0;
  bool refused = false;
};

void Convert(const YAML::Node& node, const std::string& file, const std::string& pointer,
             nlohmann::json& out, std::map<std::string, SourceLocation>& locs, Diagnostics& diags,
             ConvertState& state, int depth) {
  if (state.refused) return;
  if (depth > kMaxDepth || ++state.nodes > kMaxNodes) {
    state.refused = true;
    diags.Error(Loc(file, node.Mark()),
                depth > kMaxDepth ? "document nested deeper than " + std::to_string(kMaxDepth) + " levels"
                                  : "document has more than " + std::to_string(kMaxNodes) + " nodes",
                "aliases (*name) that repeat or refer to themselves expand without bound");
    out = nullptr;
    return;
  }
  locs[pointer] = Loc(file, node.Mark());
  switch (node.Type()) {
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      out = nullptr;
      break;
    case YAML::NodeType::Scalar:
      out = node.Tag() == "!" ? nlohmann::json(node.Scalar()) : ResolvePlain(node.Scalar());
      break;
    case YAML::NodeType::Sequence: {
      out = nlohmann::json::array();
      size_t i = 0;
      for (const auto& item : node) {
        nlohmann::json child;
        Convert(item, file, pointer + "/" + std::to_string(i++), child, locs, diags, state, depth + 1);
        out.push_back(std::move(child));
      }
      break;
    }
    case YAML::NodeType::Map: {
      out = nlohmann::json::object();
      for (const auto& kv : node) {
        if (!kv.first.IsScalar()) {
          diags.Error(Loc(file, kv.first.Mark()), "mapping keys must be plain strings");
          continue;
        }
        std::string key = kv.first.Scalar();
        if (out.contains(key)) {
          diags.Error(Loc(file, kv.first.Mark()), "duplicate key '" + key + "'",
                      "each key may appear once in a mapping");
          continue;
        }
        nlohmann::json child;
        std::string child_ptr = pointer + "/" + JsonPointerEscape(key);
        Convert(kv.second, file, child_ptr, child, locs, diags, state, depth + 1);
        // The key's own position is the better place to point at for the entry.
        locs[child_ptr + "#key"] = Loc(file, kv.first.Mark());
        out[key] = std::move(child);
      }
      break;
    }
  }
}

// The offset of the first byte that is not well-formed UTF-8 (overlongs, surrogates and code
// points past U+10FFFF included), or npos. Later stages assume valid UTF-8.
size_t FirstInvalidUtf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (len == 0 || i + len > s.size()) return i;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (size_t k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(s[i + k]);
      if ((cc >> 6) != 0x2) return i;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) || cp > 0x10FFFF ||
        (cp >= 0xD800 && cp <= 0xDFFF)) {
      return i;
    }
    i += len;
  }
  return std::string_view::npos;
}

size_t Indent(const std::string& line) {
  size_t i = 0;
  while (i < line.size() && line[i] == ' ') ++i;
  return i;
}

}  // namespace

std::string JsonPointerEscape(const std::string& key) {
  std::string out;
  for (char c : key) {
    if (c == '~') out += "~0";
    else if (c == '/') out += "~1";
    else out += c;
  }
  return out;
}

SourceLocation ScalarSource::LocationOf(size_t offset) const {
  if (offset < char_locations.size()) return char_locations[offset];
  if (!char_locations.empty()) {
    SourceLocation l = char_locations.back();
    l.column += static_cast<int>(offset - (char_locations.size() - 1));
    return l;
  }
  return start;
}

SourceLocation YamlDocument::At(const std::string& pointer) const {
  std::string p = pointer;
  for (;;) {
    auto it = locations_.find(p);
    if (it != locations_.end()) return it->second;
    if (p.empty()) return {file_, 0, 0};
    p = p.substr(0, p.rfind('/'));
  }
}

ScalarSource YamlDocument::Scalar(const std::string& pointer) const {
  ScalarSource src;
  src.start = At(pointer);
  nlohmann::json value;
  try {
    value = json_.at(nlohmann::json::json_pointer(pointer));
  } catch (...) {
    return src;
  }
  src.text = value.is_string() ? value.get<std::string>() : value.dump();
  int line = src.start.line, col = src.start.column;
  if (line <= 0 || static_cast<size_t>(line) > lines_.size()) return src;
  const std::string& first = lines_[static_cast<size_t>(line - 1)];
  size_t c = static_cast<size_t>(col - 1);
  if (c >= first.size()) return src;
  char lead = first[c];
  if (lead == '>' || lead == '|') {
    // Block scalar: rebuild the text from the raw lines, joined by newlines (whitespace to the
    // expression lexer), so every character keeps its own line and column.
    std::string text;
    std::vector<SourceLocation> locs;
    size_t indent = 0;
    for (size_t ln = static_cast<size_t>(line); ln < lines_.size(); ++ln) {
      const std::string& l = lines_[ln];
      bool blank = l.find_first_not_of(' ') == std::string::npos;
      if (!blank) {
        size_t ind = Indent(l);
        if (indent == 0) indent = ind;
        if (ind < indent) break;
      }
      if (!text.empty()) {
        text += '\n';
        locs.push_back({file_, static_cast<int>(ln), static_cast<int>(lines_[ln - 1].size() + 1)});
      }
      for (size_t i = std::min(indent, l.size()); i < l.size(); ++i) {
        text += l[i];
        locs.push_back({file_, static_cast<int>(ln + 1), static_cast<int>(i + 1)});
      }
    }
    while (!text.empty() && (text.back() == '\n' || text.back() == ' ')) {
      text.pop_back();
      locs.pop_back();
    }
    src.text = std::move(text);
    src.char_locations = std::move(locs);
    return src;
  }
  size_t begin = c + ((lead == '"' || lead == '\'') ? 1 : 0);
  if (first.compare(begin, src.text.size(), src.text) == 0) {
    for (size_t i = 0; i < src.text.size(); ++i) {
      src.char_locations.push_back({file_, line, static_cast<int>(begin + i + 1)});
    }
  }
  return src;
}

Result<YamlDocument> ParseYaml(const std::string& text, const std::string& file, Diagnostics& diags) {
  YamlDocument doc;
  doc.file_ = file;
  if (size_t bad = FirstInvalidUtf8(text); bad != std::string_view::npos) {
    int line = 1, col = 1;
    for (size_t k = 0; k < bad; ++k) {
      if (text[k] == '\n') {
        ++line;
        col = 1;
      } else {
        ++col;
      }
    }
    diags.Error({file, line, col}, "the file is not valid UTF-8", "save it as UTF-8");
    return Status::Invalid("invalid UTF-8 in " + file);
  }
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) doc.lines_.push_back(l);
  YAML::Node root;
  try {
    root = YAML::Load(text);
  } catch (const YAML::Exception& e) {
    diags.Error(Loc(file, e.mark), "YAML syntax error: " + e.msg,
                "check indentation and that strings with ':' or '#' are quoted");
    return Status::Invalid("YAML syntax error in " + file);
  }
  ConvertState state;
  Convert(root, file, "", doc.json_, doc.locations_, diags, state, 0);
  if (state.refused) return Status::Invalid("document too large or too deep: " + file);
  return doc;
}

Result<YamlDocument> LoadYamlFile(const std::string& path, Diagnostics& diags) {
  // Only regular files of a sane size: a path such as /dev/zero would never end.
  constexpr std::uintmax_t kMaxBytes = 4u << 20;
  std::error_code ec;
  if (!std::filesystem::is_regular_file(path, ec)) {
    diags.Error({path, 0, 0}, "not a readable regular file");
    return Status::NotFound("cannot read " + path);
  }
  if (std::filesystem::file_size(path, ec) > kMaxBytes) {
    diags.Error({path, 0, 0}, "file is larger than 4 MiB");
    return Status::Invalid("file too large: " + path);
  }
  std::ifstream f(path, std::ios::binary);
  if (!f) {
    diags.Error({path, 0, 0}, "cannot read file");
    return Status::NotFound("cannot read " + path);
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ParseYaml(ss.str(), path, diags);
}

}  // namespace ennakko
