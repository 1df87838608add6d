// Form engine benchmark: one answer change on a generated 1,000-question form
// (relevance and constraints chained across questions, calculations, and a
// repeat of 50 instances), applied through the dependency graph, against
// re-evaluating the whole form from the same answers. Both in one run.
//
// Usage: form_bench [--changes N] [--write-form FILE]
//   --write-form writes the generated form (for the UI benchmark) and exits.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tianye/form_session.h"

namespace {

using Stopwatch = std::chrono::steady_clock;
constexpr int kTop = 950;        // top-level questions
constexpr int kInRepeat = 50;    // questions in the repeat
constexpr int kInstances = 50;   // repeat instances

std::string GenerateForm() {
  nlohmann::ordered_json survey = nlohmann::ordered_json::array();
  for (int i = 0; i < kTop; ++i) {
    std::string name = "q" + std::to_string(i);
    std::string prev = "${q" + std::to_string(i - 1) + "}";
    if (i % 10 == 9) {
      survey.push_back({{"type", "calculate"}, {"name", name},
                        {"calculation", "coalesce(" + prev + ", 0) + coalesce(${q" + std::to_string(i - 2) + "}, 0)"}});
      continue;
    }
    nlohmann::ordered_json q = {{"type", "integer"}, {"name", name}, {"label::zh", "问题 " + std::to_string(i)}};
    if (i > 0) {
      q["relevant"] = prev + " != 7";
      q["constraint"] = ". >= 0 and . <= 1000 + coalesce(" + prev + ", 0)";
      q["required"] = "${q0} > 0";
    }
    survey.push_back(q);
  }
  survey.push_back({{"type", "begin repeat"}, {"name", "r"}, {"label::zh", "重复"}});
  for (int j = 0; j < kInRepeat; ++j) {
    survey.push_back({{"type", "integer"}, {"name", "rq" + std::to_string(j)},
                      {"relevant", "${q" + std::to_string(j * 10) + "} > 3"},
                      {"constraint", ". < ${q0} + 100 + position(..)"}});
  }
  survey.push_back({{"type", "end repeat"}});
  survey.push_back({{"type", "calculate"}, {"name", "total"}, {"calculation", "sum(${rq0}) + count(${r})"}});
  survey.push_back({{"type", "image"}, {"name", "photo"}, {"label::zh", "照片"}});
  nlohmann::ordered_json form = {{"settings", {{"form_id", "bench"}, {"version", "1"}}}, {"survey", survey}};
  return form.dump();
}

double Micros(Stopwatch::duration d) { return std::chrono::duration<double, std::micro>(d).count(); }

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v[static_cast<size_t>(p * (v.size() - 1))];
}

}  // namespace

int main(int argc, char** argv) {
  int changes = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--changes") changes = std::atoi(argv[i + 1]);
    if (std::string(argv[i]) == "--write-form") {
      std::FILE* f = std::fopen(argv[i + 1], "w");
      if (f == nullptr) return 1;
      std::string form = GenerateForm();
      std::fwrite(form.data(), 1, form.size(), f);
      std::fclose(f);
      return 0;
    }
  }
  tianye::FormLoadResult r = tianye::FormDef::Parse(GenerateForm(), {});
  if (!r.form) {
    std::fprintf(stderr, "form did not load: %s\n", r.errors.front().ToString().c_str());
    return 1;
  }
  auto opened = tianye::FormSession::Open(r.form, "", {});
  if (!opened) return 1;
  tianye::FormSession& s = **opened;
  std::mt19937 rng(7);
  for (int i = 0; i < kTop; ++i) {
    if (i % 10 != 9) (void)s.SetAnswer("q" + std::to_string(i), std::to_string(5 + rng() % 20));
  }
  for (int k = 1; k <= kInstances; ++k) {
    (void)s.AddRepeat("r");
    for (int j = 0; j < kInRepeat; ++j) {
      (void)s.SetAnswer("r[" + std::to_string(k) + "]/rq" + std::to_string(j), std::to_string(rng() % 50));
    }
  }
  size_t nodes = s.States().size();

  std::vector<double> incremental, full;
  size_t changed_total = 0;
  for (int c = 0; c < changes; ++c) {
    std::string path;
    if (rng() % 4 == 0) {
      path = "r[" + std::to_string(1 + rng() % kInstances) + "]/rq" + std::to_string(rng() % kInRepeat);
    } else {
      int i = static_cast<int>(rng() % kTop);
      if (i % 10 == 9) --i;
      path = "q" + std::to_string(i);
    }
    std::string value = std::to_string(rng() % 20);  // 7 hides what follows; others show it again
    auto start = Stopwatch::now();
    auto res = s.SetAnswer(path, value);
    incremental.push_back(Micros(Stopwatch::now() - start));
    if (res) changed_total += res->size();
    if (c % 20 == 0) {
      std::string values = s.ValuesJson(false);
      start = Stopwatch::now();
      auto again = tianye::FormSession::Open(r.form, values, {});
      full.push_back(Micros(Stopwatch::now() - start));
      if (!again) return 1;
    }
  }
  std::printf("Form benchmark: %zu questions (%d in a repeat of %d instances), %zu nodes, %d changes\n\n",
              r.form->questions().size(), kInRepeat, kInstances, nodes, changes);
  std::printf("| %-46s | %10s | %10s |\n", "per answer change", "p50 (µs)", "p99 (µs)");
  std::printf("|------------------------------------------------|------------|------------|\n");
  std::printf("| %-46s | %10.1f | %10.1f |\n", "dependency graph (SetAnswer)", Percentile(incremental, 0.5),
              Percentile(incremental, 0.99));
  std::printf("| %-46s | %10.1f | %10.1f |\n", "whole form re-evaluated (reopen, same answers)",
              Percentile(full, 0.5), Percentile(full, 0.99));
  std::printf("| %-46s | %10.0fx | %10.0fx |\n", "ratio whole / graph", Percentile(full, 0.5) / Percentile(incremental, 0.5),
              Percentile(full, 0.99) / Percentile(incremental, 0.99));
  std::printf("\nTarget: p99 under 1000 µs per change. Nodes reported changed per call: %.1f on average.\n",
              static_cast<double>(changed_total) / changes);
  return 0;
}
