#include "engine/lang/ast.h"

namespace ennakko {

std::string TypeName(TypeKind k) {
  switch (k) {
    case TypeKind::kError: return "<error>";
    case TypeKind::kNull: return "null";
    case TypeKind::kBool: return "bool";
    case TypeKind::kInt: return "int";
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
      {Field::kPlacements, TypeKind::kPerson, "placements", Type::ListOf(TypeKind::kPlacement), true,
       "placements in city services (preschool, ecec, school)"},
      {Field::kPlacementKind, TypeKind::kPlacement, "kind", Type::Of(TypeKind::kString), false,
       "\"preschool\", \"ecec\" or \"school\""},
      {Field::kPlacementStart, TypeKind::kPlacement, "start_date", Type::Of(TypeKind::kDate), true,
       "first day of the placement"},
      {Field::kPlacementEnd, TypeKind::kPlacement, "end_date", Type::Of(TypeKind::kDate), true,
       "last day of the placement; null while open"},
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
