// Name and street tables for the demo city (internal to engine/demo). Common given names and
// surnames by mother tongue: combined at random and paired with synthetic identity codes they
// describe nobody. Constant data; safe to read from any thread.
#pragma once

#include <array>
#include <string_view>

namespace ennakko::demo {

struct NameTable {
  std::array<std::string_view, 24> male;
  std::array<std::string_view, 24> female;
  std::array<std::string_view, 24> last;
};

// Indexed by language: 0 = fi, 1 = sv, 2 = en.
inline constexpr std::array<NameTable, 3> kNames = {{
    {{"Matti", "Juha", "Mikko",  "Timo", "Antti", "Jari",  "Janne",  "Ville",
      "Eero",  "Onni", "Leo",    "Eino", "Väinö", "Elias", "Aleksi", "Tuomas",
      "Lauri", "Olli", "Joonas", "Niko", "Veeti", "Aatu",  "Otto",   "Kalle"},
     {"Aino",  "Helmi", "Sofia", "Aada",  "Emma",    "Olivia", "Lilja", "Venla",
      "Ella",  "Anni",  "Maria", "Liisa", "Johanna", "Laura",  "Sanna", "Tiina",
      "Kaisa", "Hanna", "Elina", "Minna", "Satu",    "Päivi",  "Pirjo", "Eveliina"},
     {"Virtanen", "Korhonen",  "Mäkinen",  "Nieminen", "Mäkelä",   "Hämäläinen",
      "Laine",    "Heikkinen", "Koskinen", "Järvinen", "Lehtonen", "Lehtinen",
      "Saarinen", "Salminen",  "Heinonen", "Niemi",    "Heikkilä", "Kinnunen",
      "Salonen",  "Turunen",   "Salo",     "Laitinen", "Tuominen", "Rantanen"}},
    {{"Erik",   "Johan", "Anders",  "Lars",   "Henrik", "Oskar",  "Axel",   "Gustav",
      "Nils",   "Karl",  "Fredrik", "Mikael", "Emil",   "Viktor", "Anton",  "Hugo",
      "Ludvig", "Elias", "Isak",    "Jonas",  "Filip",  "Otto",   "Alfred", "Albin"},
     {"Anna",  "Karin",  "Linnea", "Ebba",  "Maja",    "Elsa",  "Ingrid", "Sara",
      "Frida", "Astrid", "Alva",   "Ella",  "Matilda", "Wilma", "Saga",   "Stella",
      "Julia", "Emilia", "Klara",  "Selma", "Agnes",   "Greta", "Vera",   "Ellen"},
     {"Lindqvist", "Nyström",    "Holmberg",  "Sjöberg",    "Lindholm",  "Forsman",
      "Ekström",   "Wikström",   "Blomqvist", "Lundberg",   "Grönroos",  "Söderström",
      "Åberg",     "Strömberg",  "Backman",   "Lindström",  "Sundström", "Holmström",
      "Eriksson",  "Westerlund", "Granqvist", "Fagerström", "Nordman",   "Lindroos"}},
    {{"James",  "Daniel", "Ahmed",  "Omar",  "Ali",  "Lucas", "David", "Michael",
      "Ivan",   "Wei",    "Samuel", "Yusuf", "Adam", "Noah",  "Arjun", "Mateo",
      "Hassan", "Thomas", "Andrei", "Kofi",  "Liam", "Rahul", "Tariq", "Oscar"},
     {"Emily",  "Sarah", "Fatima", "Amina", "Olga",  "Anna", "Mei",     "Grace",
      "Leila",  "Maya",  "Sofia",  "Aisha", "Elena", "Hana", "Priya",   "Lucia",
      "Zainab", "Chloe", "Irina",  "Nadia", "Amara", "Yara", "Jasmine", "Lily"},
     {"Smith",    "Ali",     "Hassan", "Ivanov", "Wang",   "Nguyen", "Garcia", "Brown",
      "Kowalski", "Mohamed", "Jones",  "Ahmed",  "Petrov", "Li",     "Silva",  "Khan",
      "Taylor",   "Rossi",   "Yilmaz", "Okafor", "Singh",  "Martin", "Novak",  "Hussein"}},
}};

inline constexpr std::array<std::string_view, 32> kStreets = {
    "Koivukuja",       "Pihlajatie",     "Kuusitie",   "Männikkötie", "Vaahterakatu", "Rantapolku",
    "Kivimiehentie",   "Lepänkuja",      "Haapatie",   "Tammikatu",   "Kalliorinne",  "Niittypolku",
    "Järvenrannantie", "Kanervakuja",    "Puistokatu", "Satamakatu",  "Myllytie",     "Pajakuja",
    "Kotiniityntie",   "Sepänkatu",      "Ruusutie",   "Kielotie",    "Metsäpolku",   "Harjutie",
    "Lähteentie",      "Tuulimyllyntie", "Rinnekuja",  "Aittatie",    "Torikatu",     "Laaksotie",
    "Salmenkatu",      "Kaarnatie"};

}  // namespace ennakko::demo
