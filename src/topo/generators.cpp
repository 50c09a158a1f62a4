// The generators by name: one table from the names the CLI and the runtime accept to the
// functions that write the plans.
#include "topo/generators.h"

#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "topo/gentree.h"

namespace loom::topo {

std::vector<std::string> plan_algorithm_names() {
  return {"ring",   "recursive_doubling", "rabenseifner", "tree",
          "direct", "double_binary_tree", "hierarchical", "gentree"};
}

CollectivePlan generate_plan(const std::string& algorithm, const Network& network, int64_t bytes, int element_bytes) {
  const int ranks = network.ranks();
  CollectivePlan plan;
  if (algorithm == "ring") {
    plan = generate_ring(ranks, bytes, element_bytes);
  } else if (algorithm == "recursive_doubling") {
    plan = generate_recursive_doubling(ranks, bytes, element_bytes);
  } else if (algorithm == "rabenseifner") {
    plan = generate_rabenseifner(ranks, bytes, element_bytes);
  } else if (algorithm == "tree") {
    plan = generate_binomial_tree(ranks, bytes, element_bytes);
  } else if (algorithm == "direct") {
    plan = generate_direct(ranks, bytes, element_bytes);
  } else if (algorithm == "double_binary_tree") {
    plan = generate_double_binary_tree(ranks, bytes, element_bytes);
  } else if (algorithm == "hierarchical") {
    plan = generate_hierarchical(network, bytes, element_bytes);
  } else if (algorithm == "gentree") {
    plan = generate_gentree(network, bytes, element_bytes);
  } else {
    throw_user_error("[collective] algorithm {} is not a plan generator (valid: {})", nlohmann::json(algorithm).dump(),
                     fmt::join(plan_algorithm_names(), ", "));
  }
  plan.algorithm = algorithm;
  plan.topology = network.topology().name;
  return plan;
}

}  // namespace loom::topo
