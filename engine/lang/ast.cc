#include "engine/lang/ast.h"

namespace ennakko {

std::string TypeName(TypeKind k) {
  switch (k) {
    case TypeKind::kError: return "<error>";
    case TypeKind::kNull: return "null";
    case TypeKind::kBool: return "bool";
    case TypeKind::kInt: return "int";
    case TypeKind::kDecimal: return "decimal";
    case TypeKind::kDuration: return "duration";
    case TypeKind::kIncome: return "income";
    case TypeKind::kTable: return "table";
    case TypeKind::kString: return "string";
    case TypeKind::kDate: return "date";
    case TypeKind::kPerson: return "person";
    case TypeKind::kPlacement: return "placement";
    case TypeKind::kList: return "list";
  }
  return "?";
}

std::string TypeName(Type t) {
  if (t.kind == TypeKind::kList) return "list<" + TypeName(t.elem) + ">";
  if (t.kind == TypeKind::kTable) return "table<int, " + TypeName(t.elem) + ">";
  return TypeName(t.kind);
}

const std::vector<FieldInfo>& DataModel() {
  static const std::vector<FieldInfo> kFields = {
      {Field::kBirthDate, TypeKind::kPerson, "birth_date", Type::Of(TypeKind::kDate), false,
       "date of birth (from the identity code)"},
      {Field::kDeathDate, TypeKind::kPerson, "death_date", Type::Of(TypeKind::kDate), true,
       "date of death; null while alive"},
      {Field::kMunicipality, TypeKind::kPerson, "municipality", Type::Of(TypeKind::kString), false,
       "municipality of residence code (kuntakoodi), e.g. \"091\""},
      {Field::kLanguage, TypeKind::kPerson, "language", Type::Of(TypeKind::kString), false,
       "mother tongue, ISO 639-1 (fi, sv, en, ...)"},
      {Field::kAddressProtected, TypeKind::kPerson, "address_protected", Type::Of(TypeKind::kBool),
       false, "true under an address protection order (turvakielto)"},
      {Field::kAlive, TypeKind::kPerson, "alive", Type::Of(TypeKind::kBool), false,
       "true when no date of death is recorded"},
      {Field::kGuardians, TypeKind::kPerson, "guardians", Type::ListOf(TypeKind::kPerson), false,
       "the person's guardians (custody in force)"},
      {Field::kChildren, TypeKind::kPerson, "children", Type::ListOf(TypeKind::kPerson), true,
       "the persons in this person's custody"},
      {Field::kSiblings, TypeKind::kPerson, "siblings", Type::ListOf(TypeKind::kPerson), true,
       "other persons in the custody of the person's guardians"},
      {Field::kHousehold, TypeKind::kPerson, "household", Type::ListOf(TypeKind::kPerson), true,
       "the other persons registered at the same permanent address (none under a protection order)"},
      {Field::kPlacements, TypeKind::kPerson, "placements", Type::ListOf(TypeKind::kPlacement), true,
       "placements in city services (preschool, ecec, school)"},
      {Field::kIncomes, TypeKind::kPerson, "incomes", Type::ListOf(TypeKind::kIncome), false,
       "income items from the Incomes Register (held only with a legal basis to fetch them)"},
      {Field::kPlacementKind, TypeKind::kPlacement, "kind", Type::Of(TypeKind::kString), false,
       "\"preschool\", \"ecec\" or \"school\""},
      {Field::kPlacementStart, TypeKind::kPlacement, "start_date", Type::Of(TypeKind::kDate), true,
       "first day of the placement"},
      {Field::kPlacementEnd, TypeKind::kPlacement, "end_date", Type::Of(TypeKind::kDate), true,
       "last day of the placement; null while open"},
      {Field::kIncomeType, TypeKind::kIncome, "type", Type::Of(TypeKind::kString), false,
       "income type code of the Incomes Register, e.g. \"201\" (time-rate pay)"},
      {Field::kIncomeAmount, TypeKind::kIncome, "amount", Type::Of(TypeKind::kDecimal), false,
       "amount in euros for the pay period"},
      {Field::kIncomeStart, TypeKind::kIncome, "start_date", Type::Of(TypeKind::kDate), false,
       "first day of the pay period"},
      {Field::kIncomeEnd, TypeKind::kIncome, "end_date", Type::Of(TypeKind::kDate), false,
       "last day of the pay period"},
  };
  return kFields;
}

const FieldInfo* FindField(TypeKind owner, const std::string& name) {
  for (const auto& f : DataModel()) {
    if (f.owner == owner && name == f.name) return &f;
  }
  return nullptr;
}

}  // namespace ennakko
