#include "connectors/channels/paper_letter.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include <catch2/catch.hpp>

namespace ennakko {
namespace {

// Runs `command` and returns its stdout; nullopt when it could not run or failed.
std::optional<std::string> Run(const std::string& command) {
  FILE* p = popen(command.c_str(), "r");
  if (!p) return std::nullopt;
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
  if (pclose(p) != 0) return std::nullopt;
  return out;
}

bool HavePoppler() { return std::filesystem::exists("/usr/bin/pdftotext"); }

// The PDF's text (poppler's pdftotext, UTF-8) and page count (pdfinfo).
struct Parsed {
  std::string text;
  int pages = 0;
};
Parsed Parse(const std::string& pdf) {
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("ennakko-letter-" + std::to_string(getpid()) + ".pdf"))
                               .string();
  {
    std::ofstream out(path, std::ios::binary);
    out << pdf;
  }
  Parsed p;
  auto text = Run("pdftotext -q -enc UTF-8 " + path + " -");
  REQUIRE(text);  // pdftotext fails on a broken PDF
  p.text = *text;
  auto info = Run("pdfinfo " + path);
  REQUIRE(info);
  auto at = info->find("Pages:");
  REQUIRE(at != std::string::npos);
  p.pages = std::stoi(info->substr(at + 6));
  std::filesystem::remove(path);
  return p;
}

Letter Sample() {
  Letter l;
  l.language = "sv";
  l.sender_name = "Helsingfors stad";
  l.sender_lines = {"Norra esplanaden 11–13", "00170 Helsingfors"};
  l.date = "22.11.2026";
  l.title = "Förskoleplats för Åsa";
  l.body = "Hej!\nHelsingfors stad erbjuder ert barn Åsa en förskoleplats för 2026.\n\n"
           "Ni fick meddelandet eftersom barnet bor i kommunen. Pris 0 €.";
  l.reply_instructions = "Ring 09 310 12345 eller skriv till Förskoleenheten, PB 1, 00099.";
  return l;
}

// pdftotext may join or split lines differently from ours; compare without line breaks.
std::string Flat(std::string s) {
  for (char& c : s) {
    if (c == '\n' || c == '\f') c = ' ';
  }
  std::string out;
  for (char c : s) {
    if (c == ' ' && !out.empty() && out.back() == ' ') continue;
    out += c;
  }
  return out;
}

TEST_CASE("paper letter: UTF-8 to CP1252", "[paper]") {
  CHECK(Utf8ToCp1252("Åsa äiti Öljy") == "\xC5sa \xE4iti \xD6ljy");
  CHECK(Utf8ToCp1252("Šakki – 5 € „x”") == "\x8A" "akki \x96 5 \x80 \x84x\x94");
  CHECK(Utf8ToCp1252("日本") == "??");
  CHECK(Utf8ToCp1252("a\xFF" "b") == "a?b");  // invalid UTF-8
  CHECK(Utf8ToCp1252("a\rb\n\tc") == "a b\n\tc");
}

TEST_CASE("paper letter: a valid PDF with the sender, title, body and reply section", "[paper]") {
  auto pdf = RenderLetterPdf(Sample());
  REQUIRE(pdf.ok());
  CHECK(pdf->starts_with("%PDF-"));
  CHECK(pdf->find("%%EOF") != std::string::npos);
  if (!HavePoppler()) {
    WARN("poppler-utils not installed: the PDF's text is not checked");
    return;
  }
  Parsed p = Parse(*pdf);
  const std::string text = Flat(p.text);
  CHECK(p.pages == 1);
  CHECK(text.find("Helsingfors stad") != std::string::npos);
  CHECK(text.find("Norra esplanaden 11–13") != std::string::npos);
  CHECK(text.find("22.11.2026") != std::string::npos);
  CHECK(text.find("Förskoleplats för Åsa") != std::string::npos);
  CHECK(text.find("erbjuder ert barn Åsa en förskoleplats") != std::string::npos);
  CHECK(text.find("Pris 0 €.") != std::string::npos);
  CHECK(text.find("Svara eller invända") != std::string::npos);  // the heading, in Swedish
  CHECK(text.find("Förskoleenheten") != std::string::npos);
  CHECK(text.find("1 (1)") != std::string::npos);
}

TEST_CASE("paper letter: the address only when asked, long bodies on more pages", "[paper]") {
  Letter l = Sample();
  l.language = "fi";
  l.recipient_address = MailingAddress{"Anna Virtanen", "Testikatu 9 B 12", "00990", "HELSINKI", "FI"};
  std::string body;
  for (int i = 0; i < 150; ++i) {
    body += "Kappale " + std::to_string(i) + ": esiopetus on maksutonta, ja päivä kestää neljä "
            "tuntia. Lähellä kotia olevat päiväkodit ovat etusijalla.\n\n";
  }
  l.body = body + "LOPPU";
  auto pdf = RenderLetterPdf(l);
  REQUIRE(pdf.ok());
  CHECK(pdf->starts_with("%PDF-"));
  if (!HavePoppler()) {
    WARN("poppler-utils not installed: the PDF's text is not checked");
    return;
  }
  Parsed p = Parse(*pdf);
  const std::string text = Flat(p.text);
  CHECK(p.pages >= 3);
  CHECK(text.find("Anna Virtanen") != std::string::npos);
  CHECK(text.find("00990 HELSINKI") != std::string::npos);
  CHECK(text.find("Kappale 0:") != std::string::npos);
  CHECK(text.find("Kappale 149:") != std::string::npos);
  CHECK(text.find("LOPPU") != std::string::npos);
  CHECK(text.find("Vastaaminen ja vastustaminen") != std::string::npos);
  CHECK(text.find(std::to_string(p.pages) + " (" + std::to_string(p.pages) + ")") !=
        std::string::npos);

  // Without the window address the letter has no address of the recipient at all.
  l.recipient_address.reset();
  auto bare = RenderLetterPdf(l);
  REQUIRE(bare.ok());
  CHECK(Flat(Parse(*bare).text).find("Anna Virtanen") == std::string::npos);
}

TEST_CASE("paper letter: a word longer than the line is broken, not lost", "[paper]") {
  Letter l = Sample();
  l.body = std::string(300, 'x') + " loppu";
  auto pdf = RenderLetterPdf(l);
  REQUIRE(pdf.ok());
  if (!HavePoppler()) return;
  std::string text = Parse(*pdf).text;
  size_t xs = 0;
  for (char c : text) xs += c == 'x';
  CHECK(xs == 300);
  CHECK(text.find("loppu") != std::string::npos);
}

}  // namespace
}  // namespace ennakko
