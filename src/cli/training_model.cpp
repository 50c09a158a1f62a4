#include "cli/training_model.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "planner/model_spec.h"

namespace loom::cli {

namespace {
bool is_hugging_face_config(const std::string& path) {
  if (path.size() <= 5 || !path.ends_with(".json")) return false;
  std::ifstream in(path);
  if (!in) return false;
  const nlohmann::json json = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  return json.is_object() && json.contains("model_type");
}
}  // namespace

nn::ModelConfig load_training_model(const std::string& name_or_path) {
  if (is_hugging_face_config(name_or_path)) return planner::load_model_spec(name_or_path).to_model_config();
  return nn::load_model_config(name_or_path);
}

}  // namespace loom::cli
