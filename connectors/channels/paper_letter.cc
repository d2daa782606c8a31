#include "connectors/channels/paper_letter.h"

#include <hpdf.h>

#include <cstdint>
#include <memory>
#include <utility>

namespace ennakko {
namespace {

// A4 in points, margins of 20 mm (57 pt) left and right, 25 mm top and bottom.
constexpr float kPageWidth = 595.28f;
constexpr float kPageHeight = 841.89f;
constexpr float kLeft = 57.0f;
constexpr float kRight = kPageWidth - 57.0f;
constexpr float kTop = kPageHeight - 71.0f;
constexpr float kBottom = 71.0f;
// The address window of a standard Finnish C5/C4 window envelope (SFS 2487): 20 mm from the left,
// its first line about 50 mm from the top.
constexpr float kWindowTop = kPageHeight - 142.0f;

constexpr float kBodySize = 11.0f;
constexpr float kTitleSize = 14.0f;
constexpr float kLeading = 1.35f;  // line height as a multiple of the font size

// The heading of the reply section, UTF-8.
const char* ReplyHeading(const std::string& language) {
  if (language == "sv") return "Svara eller inv\u00e4nda";
  if (language == "en") return "How to reply or object";
  return "Vastaaminen ja vastustaminen";
}

// One laid-out line.
struct Line {
  bool bold = false;
  float size = kBodySize;
  float gap_before = 0;  // extra space above (paragraph breaks, sections)
  std::string text;      // CP1252
};

struct Fonts {
  HPDF_Font regular = nullptr;
  HPDF_Font bold = nullptr;
};

void OnError(HPDF_STATUS error_no, HPDF_STATUS /*detail_no*/, void* user_data) {
  auto* first = static_cast<HPDF_STATUS*>(user_data);
  if (*first == HPDF_OK) *first = error_no;
}

// Splits one CP1252 paragraph line into lines that fit `width` at `size`, breaking at spaces
// (a word wider than the line is broken where it must be).
void Wrap(const Fonts& fonts, const std::string& text, bool bold, float size, float gap_before,
          std::vector<Line>& out) {
  HPDF_Font font = bold ? fonts.bold : fonts.regular;
  const float width = kRight - kLeft;
  size_t pos = 0;
  bool first = true;
  if (text.empty()) {
    out.push_back({bold, size, gap_before, ""});
    return;
  }
  while (pos < text.size()) {
    const std::string rest = text.substr(pos);
    HPDF_REAL real = 0;
    HPDF_UINT n = HPDF_Font_MeasureText(font, reinterpret_cast<const HPDF_BYTE*>(rest.c_str()),
                                        static_cast<HPDF_UINT>(rest.size()), width, size, 0, 0,
                                        HPDF_TRUE, &real);
    if (n == 0) {  // one word wider than the line: break inside it
      n = HPDF_Font_MeasureText(font, reinterpret_cast<const HPDF_BYTE*>(rest.c_str()),
                                static_cast<HPDF_UINT>(rest.size()), width, size, 0, 0,
                                HPDF_FALSE, &real);
      if (n == 0) n = 1;
    }
    std::string piece = rest.substr(0, n);
    while (!piece.empty() && piece.back() == ' ') piece.pop_back();
    out.push_back({bold, size, first ? gap_before : 0, std::move(piece)});
    first = false;
    pos += n;
    while (pos < text.size() && text[pos] == ' ') ++pos;
  }
}

// The body's lines: '\n' ends a line, an empty line starts a new paragraph.
void WrapText(const Fonts& fonts, const std::string& text, float gap_before,
              std::vector<Line>& out) {
  size_t pos = 0;
  float gap = gap_before;
  bool any = false;
  while (pos <= text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
    for (char& c : line) {
      if (c == '\t') c = ' ';
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    if (line.empty()) {
      if (any) gap = kBodySize * 0.8f;  // a paragraph break
    } else {
      Wrap(fonts, line, false, kBodySize, gap, out);
      gap = 0;
      any = true;
    }
    if (nl == std::string::npos) break;
    pos = nl + 1;
  }
}

void Text(HPDF_Page page, HPDF_Font font, float size, float x, float y, const std::string& s) {
  HPDF_Page_BeginText(page);
  HPDF_Page_SetFontAndSize(page, font, size);
  HPDF_Page_TextOut(page, x, y, s.c_str());
  HPDF_Page_EndText(page);
}

struct DocDeleter {
  void operator()(HPDF_Doc d) const { HPDF_Free(d); }
};

}  // namespace

std::string Utf8ToCp1252(const std::string& text) {
  // U+0080..U+009F of CP1252 hold these code points; 0 marks the five undefined slots.
  static constexpr uint16_t kHigh[32] = {
      0x20AC, 0,      0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0,      0x017D, 0,      0,      0x2018, 0x2019, 0x201C, 0x201D, 0x2022,
      0x2013, 0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0,      0x017E, 0x0178};
  std::string out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    const auto c = static_cast<uint8_t>(text[i]);
    uint32_t cp = 0;
    size_t len = 0;
    if (c < 0x80) {
      cp = c, len = 1;
    } else if ((c & 0xE0) == 0xC0) {
      cp = c & 0x1F, len = 2;
    } else if ((c & 0xF0) == 0xE0) {
      cp = c & 0x0F, len = 3;
    } else if ((c & 0xF8) == 0xF0) {
      cp = c & 0x07, len = 4;
    }
    bool valid = len > 0 && i + len <= text.size();
    for (size_t k = 1; valid && k < len; ++k) {
      const auto cc = static_cast<uint8_t>(text[i + k]);
      if ((cc & 0xC0) != 0x80) valid = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!valid) {
      out += '?';
      ++i;
      continue;
    }
    i += len;
    if (cp == '\n' || cp == '\t') {
      out += static_cast<char>(cp);
    } else if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp < 0xA0)) {
      out += ' ';
    } else if (cp < 0x100) {
      out += static_cast<char>(cp);
    } else {
      char mapped = '?';
      for (int k = 0; k < 32; ++k) {
        if (kHigh[k] != 0 && kHigh[k] == cp) mapped = static_cast<char>(0x80 + k);
      }
      out += mapped;
    }
  }
  return out;
}

Result<std::string> RenderLetterPdf(const Letter& letter) {
  HPDF_STATUS error = HPDF_OK;
  std::unique_ptr<std::remove_pointer_t<HPDF_Doc>, DocDeleter> doc(HPDF_New(&OnError, &error));
  if (!doc) return Status::Internal("paper letter: HPDF_New failed");
  HPDF_Doc pdf = doc.get();
  HPDF_SetCompressionMode(pdf, HPDF_COMP_ALL);
  HPDF_SetInfoAttr(pdf, HPDF_INFO_CREATOR, "Ennakko");
  Fonts fonts{HPDF_GetFont(pdf, "Helvetica", "CP1252"),
              HPDF_GetFont(pdf, "Helvetica-Bold", "CP1252")};
  if (!fonts.regular || !fonts.bold || error != HPDF_OK) {
    return Status::Internal("paper letter: fonts unavailable (libharu error " +
                            std::to_string(error) + ")");
  }

  // Lay out the flowing part (title, body, reply section) first, so pages can be counted.
  std::vector<Line> flow;
  Wrap(fonts, Utf8ToCp1252(letter.title), true, kTitleSize, 0, flow);
  WrapText(fonts, Utf8ToCp1252(letter.body), kBodySize, flow);
  if (!letter.reply_instructions.empty()) {
    Wrap(fonts, Utf8ToCp1252(ReplyHeading(letter.language)), true, kBodySize,
         kBodySize * 1.6f, flow);
    WrapText(fonts, Utf8ToCp1252(letter.reply_instructions), kBodySize * 0.3f, flow);
  }

  // The first page's flow starts below the header block (and the address window when used).
  const float header_lines = 1.0f + static_cast<float>(letter.sender_lines.size());
  float first_flow_top = kTop - header_lines * kBodySize * kLeading - 2 * kBodySize;
  if (letter.recipient_address) first_flow_top = kWindowTop - 6 * kBodySize * kLeading;
  first_flow_top -= kBodySize;  // room above the title

  // Paginate: a vector of (first line, end line) per page.
  std::vector<std::pair<size_t, size_t>> pages;
  float y = first_flow_top;
  size_t page_start = 0;
  for (size_t i = 0; i < flow.size(); ++i) {
    const float step = flow[i].gap_before + flow[i].size * kLeading;
    if (y - step < kBottom && i > page_start) {
      pages.emplace_back(page_start, i);
      page_start = i;
      y = kTop;
    }
    y -= (i == page_start ? flow[i].size * kLeading : step);
  }
  pages.emplace_back(page_start, flow.size());

  const std::string total = std::to_string(pages.size());
  for (size_t p = 0; p < pages.size(); ++p) {
    HPDF_Page page = HPDF_AddPage(pdf);
    if (!page) break;
    HPDF_Page_SetSize(page, HPDF_PAGE_SIZE_A4, HPDF_PAGE_PORTRAIT);
    float cursor = kTop;
    if (p == 0) {
      Text(page, fonts.bold, kBodySize, kLeft, cursor, Utf8ToCp1252(letter.sender_name));
      for (const std::string& l : letter.sender_lines) {
        cursor -= kBodySize * kLeading;
        Text(page, fonts.regular, kBodySize, kLeft, cursor, Utf8ToCp1252(l));
      }
      const std::string date = Utf8ToCp1252(letter.date);
      HPDF_Page_SetFontAndSize(page, fonts.regular, kBodySize);
      const float w = HPDF_Page_TextWidth(page, date.c_str());
      Text(page, fonts.regular, kBodySize, kRight - w, kTop, date);
      if (letter.recipient_address) {
        const MailingAddress& a = *letter.recipient_address;
        float ay = kWindowTop;
        for (const std::string& l :
             {a.name, a.street_address, a.zip_code + " " + a.city,
              a.country_code == "FI" ? std::string() : a.country_code}) {
          if (l.empty()) continue;
          Text(page, fonts.regular, kBodySize, kLeft, ay, Utf8ToCp1252(l));
          ay -= kBodySize * kLeading;
        }
      }
      cursor = first_flow_top;
    }
    for (size_t i = pages[p].first; i < pages[p].second; ++i) {
      const Line& line = flow[i];
      if (i != pages[p].first) cursor -= line.gap_before;
      cursor -= line.size * kLeading - line.size;  // leading above the baseline
      Text(page, line.bold ? fonts.bold : fonts.regular, line.size, kLeft, cursor - line.size,
           line.text);
      cursor -= line.size;
    }
    const std::string number = std::to_string(p + 1) + " (" + total + ")";
    HPDF_Page_SetFontAndSize(page, fonts.regular, 9);
    const float w = HPDF_Page_TextWidth(page, number.c_str());
    Text(page, fonts.regular, 9, kRight - w, kBottom - 30, number);
  }
  if (error != HPDF_OK) {
    return Status::Internal("paper letter: libharu error " + std::to_string(error));
  }

  if (HPDF_SaveToStream(pdf) != HPDF_OK) {
    return Status::Internal("paper letter: saving failed (libharu error " +
                            std::to_string(error) + ")");
  }
  std::string bytes(HPDF_GetStreamSize(pdf), '\0');
  HPDF_UINT32 size = static_cast<HPDF_UINT32>(bytes.size());
  HPDF_ResetStream(pdf);
  if (HPDF_ReadFromStream(pdf, reinterpret_cast<HPDF_BYTE*>(bytes.data()), &size) != HPDF_OK &&
      size != bytes.size()) {
    return Status::Internal("paper letter: reading the stream failed");
  }
  bytes.resize(size);
  return bytes;
}

}  // namespace ennakko
