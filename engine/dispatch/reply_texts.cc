#include "engine/dispatch/reply_texts.h"

#include <fmt/format.h>

namespace ennakko {

namespace {

// Index of a language in the tables below: fi 0, sv 1, en 2; anything else fi.
int Lang(std::string_view language) {
  if (language == "sv") return 1;
  if (language == "en") return 2;
  return 0;
}

std::string Labels(const std::vector<OfferLabel>& labels) {
  std::string out;
  for (const auto& l : labels) {
    if (!out.empty()) out += ", ";
    out += l.code;
    if (!l.service_title.empty()) {
      out += " (" + l.service_title + (l.child_first_name.empty() ? "" : ", " + l.child_first_name) + ")";
    }
  }
  return out;
}

std::string Describe(const std::vector<OfferLabel>& labels) {
  if (labels.empty()) return "";
  const auto& l = labels.front();
  return l.service_title + (l.child_first_name.empty() ? "" : ", " + l.child_first_name);
}

}  // namespace

std::string SmsReply(std::string_view language, SmsReplyText kind, const std::vector<OfferLabel>& labels,
                     std::string_view code) {
  const int l = Lang(language);
  const std::string example = labels.empty() ? std::string("K7Q") : labels.front().code;
  switch (kind) {
    case SmsReplyText::kAccepted: {
      static const char* t[] = {"Kiitos! Vastauksenne KYLLÄ on kirjattu: {}.", "Tack! Ert svar JA har registrerats: {}.",
                                "Thank you! Your answer YES has been recorded: {}."};
      return fmt::format(fmt::runtime(t[l]), Describe(labels));
    }
    case SmsReplyText::kDeclined: {
      static const char* t[] = {"Kiitos. Vastauksenne EI on kirjattu: {}.", "Tack. Ert svar NEJ har registrerats: {}.",
                                "Thank you. Your answer NO has been recorded: {}."};
      return fmt::format(fmt::runtime(t[l]), Describe(labels));
    }
    case SmsReplyText::kObjection: {
      static const char* t[] = {"Kiitos. Kirjasimme, ettette halua näitä viestejä. Käsittelemme asian.",
                                "Tack. Vi har registrerat att ni inte vill ha dessa meddelanden. Vi behandlar ärendet.",
                                "Thank you. We have recorded that you do not want these messages and will handle it."};
      return t[l];
    }
    case SmsReplyText::kUnrecognised: {
      static const char* t[] = {"Emme ymmärtäneet vastausta. Vastatkaa KYLLÄ tai EI ja tarjouksen koodi, esim. KYLLÄ {}.",
                                "Vi förstod inte svaret. Svara JA eller NEJ och erbjudandets kod, t.ex. JA {}.",
                                "We did not understand your reply. Reply YES or NO and the offer's code, e.g. YES {}."};
      return fmt::format(fmt::runtime(t[l]), example);
    }
    case SmsReplyText::kAmbiguous: {
      static const char* t[] = {"Teillä on useita avoimia tarjouksia. Vastatkaa KYLLÄ tai EI ja koodi, esim. KYLLÄ {}. Koodit: {}.",
                                "Ni har flera öppna erbjudanden. Svara JA eller NEJ och koden, t.ex. JA {}. Koder: {}.",
                                "You have several open offers. Reply YES or NO and the code, e.g. YES {}. Codes: {}."};
      return fmt::format(fmt::runtime(t[l]), example, Labels(labels));
    }
    case SmsReplyText::kUnknownCode: {
      static const char* t[] = {"Koodilla {} ei löydy avointa tarjousta. Avoimet tarjoukset: {}.",
                                "Koden {} hör inte till något öppet erbjudande. Öppna erbjudanden: {}.",
                                "No open offer has the code {}. Open offers: {}."};
      return fmt::format(fmt::runtime(t[l]), code, labels.empty() ? "-" : Labels(labels));
    }
    case SmsReplyText::kNoOpenOffer: {
      static const char* t[] = {"Tähän numeroon ei ole avointa tarjousta, johon voisi vastata. Lisätietoja kaupungin neuvonnasta.",
                                "Det finns inget öppet erbjudande till detta nummer att svara på. Mer information ger stadens rådgivning.",
                                "There is no open offer to this number to answer. The city's advice service can tell you more."};
      return t[l];
    }
    case SmsReplyText::kTryAgain: {
      static const char* t[] = {"Vastaustanne ei voitu juuri nyt kirjata. Lähettäkää se hetken kuluttua uudelleen.",
                                "Ert svar kunde inte registreras just nu. Skicka det igen om en stund.",
                                "Your answer could not be recorded just now. Please send it again shortly."};
      return t[l];
    }
  }
  return "";
}

std::string HtmlEscape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {

std::string Page(int l, std::string_view title, std::string_view content) {
  static const char* lang[] = {"fi", "sv", "en"};
  return fmt::format(
      "<!DOCTYPE html>\n<html lang=\"{}\"><head><meta charset=\"utf-8\">"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
      "<meta name=\"robots\" content=\"noindex\"><title>{}</title>"
      "<style>body{{font-family:sans-serif;max-width:36em;margin:2em auto;padding:0 1em;line-height:1.5}}"
      "button{{font-size:1.1em;padding:.5em 1.2em;margin:.3em .6em .3em 0}}</style></head>"
      "<body><h1>{}</h1>\n{}\n</body></html>\n",
      lang[l], HtmlEscape(title), HtmlEscape(title), content);
}

}  // namespace

std::string RenderOfferPage(const OfferPage& p) {
  const int l = Lang(p.language);
  static const char* intro[] = {"Kaupunki tarjoaa lapsellenne {} palvelua: {} ({}).",
                                "Staden erbjuder ert barn {} tjänsten: {} ({}).",
                                "The city offers your child {} this service: {} ({})."};
  static const char* question[] = {"Otatteko tarjouksen vastaan?", "Tar ni emot erbjudandet?", "Do you accept the offer?"};
  static const char* accept[] = {"Kyllä, otamme vastaan", "Ja, vi tar emot", "Yes, we accept"};
  static const char* decline[] = {"Ei kiitos", "Nej tack", "No, thank you"};
  static const char* note[] = {"Vastaus kirjataan vasta, kun painatte painiketta.",
                               "Svaret registreras först när ni trycker på knappen.",
                               "Your answer is recorded only when you press a button."};
  std::string content = "<p>" + fmt::format(fmt::runtime(intro[l]), HtmlEscape(p.child_first_name),
                                            HtmlEscape(p.service_title), HtmlEscape(p.period)) + "</p>\n";
  content += "<form method=\"post\"><input type=\"hidden\" name=\"t\" value=\"" + HtmlEscape(p.token) + "\">\n";
  content += "<p>" + std::string(question[l]) + "</p>\n<p>";
  if (p.may_accept) content += "<button type=\"submit\" name=\"answer\" value=\"accept\">" + std::string(accept[l]) + "</button>";
  if (p.may_decline) content += "<button type=\"submit\" name=\"answer\" value=\"decline\">" + std::string(decline[l]) + "</button>";
  content += "</p></form>\n<p><small>" + std::string(note[l]) + "</small></p>";
  return Page(l, p.service_title, content);
}

std::string RenderNoticePage(std::string_view language, ReplyNotice notice, std::string_view detail) {
  const int l = Lang(language);
  struct Text {
    const char* title[3];
    const char* body[3];
  };
  static const Text kAccepted = {{"Kiitos!", "Tack!", "Thank you!"},
                                 {"Vastauksenne on kirjattu: otatte tarjouksen vastaan. Saatte lisätietoja myöhemmin.",
                                  "Ert svar har registrerats: ni tar emot erbjudandet. Ni får mer information senare.",
                                  "Your answer has been recorded: you accept the offer. You will hear more later."}};
  static const Text kDeclined = {{"Kiitos", "Tack", "Thank you"},
                                 {"Vastauksenne on kirjattu: ette ota tarjousta vastaan.",
                                  "Ert svar har registrerats: ni tar inte emot erbjudandet.",
                                  "Your answer has been recorded: you decline the offer."}};
  static const Text kAlready = {{"Olette jo vastanneet", "Ni har redan svarat", "You have already answered"},
                                {"Tähän tarjoukseen on jo vastattu, eikä linkkiä voi käyttää uudelleen.",
                                 "Erbjudandet har redan besvarats och länken kan inte användas igen.",
                                 "This offer has already been answered; the link cannot be used again."}};
  static const Text kExpired = {{"Linkki on vanhentunut", "Länken har gått ut", "The link has expired"},
                                {"Tämä vastauslinkki ei ole enää voimassa. Ottakaa yhteyttä kaupungin neuvontaan.",
                                 "Den här svarslänken gäller inte längre. Kontakta stadens rådgivning.",
                                 "This reply link is no longer valid. Please contact the city's advice service."}};
  static const Text kClosed = {{"Tarjous ei ole enää avoinna", "Erbjudandet är inte längre öppet", "The offer is no longer open"},
                               {"Tähän tarjoukseen ei voi enää vastata. Ottakaa yhteyttä kaupungin neuvontaan.",
                                "Det går inte längre att svara på erbjudandet. Kontakta stadens rådgivning.",
                                "This offer can no longer be answered. Please contact the city's advice service."}};
  static const Text kInvalid = {{"Linkki ei kelpaa", "Länken är ogiltig", "The link is not valid"},
                                {"Tätä linkkiä ei tunnisteta. Tarkistakaa, että kopioitte koko linkin viestistä.",
                                 "Länken känns inte igen. Kontrollera att ni kopierade hela länken från meddelandet.",
                                 "This link is not recognised. Check that you copied the whole link from the message."}};
  static const Text kBad = {{"Vastaus puuttuu", "Svaret saknas", "No answer given"},
                            {"Valitkaa sivulta joko kyllä tai ei.", "Välj antingen ja eller nej på sidan.",
                             "Please choose yes or no on the page."}};
  static const Text kBusy = {{"Yrittäkää hetken kuluttua uudelleen", "Försök igen om en stund", "Please try again shortly"},
                             {"Palvelu on juuri nyt kiireinen. Vastaustanne ei kirjattu.",
                              "Tjänsten är upptagen just nu. Ert svar registrerades inte.",
                              "The service is busy right now. Your answer was not recorded."}};
  const Text* t = &kInvalid;
  switch (notice) {
    case ReplyNotice::kAccepted: t = &kAccepted; break;
    case ReplyNotice::kDeclined: t = &kDeclined; break;
    case ReplyNotice::kAlreadyAnswered: t = &kAlready; break;
    case ReplyNotice::kExpiredLink: t = &kExpired; break;
    case ReplyNotice::kClosedOffer: t = &kClosed; break;
    case ReplyNotice::kInvalidLink: t = &kInvalid; break;
    case ReplyNotice::kBadRequest: t = &kBad; break;
    case ReplyNotice::kUnavailable: t = &kBusy; break;
  }
  if (language.empty()) {  // we do not know whose link it was: say it in all three languages
    std::string title = std::string(t->title[0]) + " / " + t->title[1] + " / " + t->title[2];
    std::string content;
    for (int k = 0; k < 3; ++k) {
      static const char* lang[] = {"fi", "sv", "en"};
      content += "<p lang=\"" + std::string(lang[k]) + "\">" + t->body[k] + "</p>\n";
    }
    return Page(0, title, content);
  }
  std::string content = "<p>" + std::string(t->body[l]) + "</p>";
  if (notice == ReplyNotice::kAlreadyAnswered && !detail.empty()) {
    static const char* label[] = {"Kirjattu vastaus", "Registrerat svar", "Recorded answer"};
    static const char* yes[] = {"kyllä", "ja", "yes"};
    static const char* no[] = {"ei", "nej", "no"};
    content += "<p>" + std::string(label[l]) + ": " + (detail == "accepted" ? yes[l] : no[l]) + "</p>";
  }
  return Page(l, t->title[l], content);
}

}  // namespace ennakko
