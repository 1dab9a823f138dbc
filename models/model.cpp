// model.cpp — the model factory and the default summary.
#include "models/model.h"

#include <map>

namespace dru {

std::vector<std::string> model_names() { return {"allcnn", "resnet18", "stsb-lstm", "bert-lite", "electricity-lstm"}; }

std::unique_ptr<Model> make_model(const ModelConfig& cfg) {
  if (cfg.name == "allcnn") return make_allcnn(cfg);
  if (cfg.name == "resnet18") return make_resnet18(cfg);
  if (cfg.name == "stsb-lstm") return make_stsb_lstm(cfg);
  if (cfg.name == "bert-lite") return make_bert_lite(cfg);
  if (cfg.name == "electricity-lstm") return make_electricity_lstm(cfg);
  std::string known;
  for (auto& n : model_names()) known += (known.empty() ? "" : ", ") + n;
  DRU_FAIL("unknown model '{}' (known: {})", cfg.name, known);
}

ModelOutput Model::probe() {
  Generator gen(0);
  ModelInput in = example_input(1, gen);
  NoGradGuard ng;
  return forward(in, Mode::eval);
}

std::vector<LayerRow> Model::summary() {
  ModelOutput out = probe();
  std::map<std::string, Shape> shapes;
  for (auto& [n, t] : out.activations) shapes[n] = t.shape();
  std::vector<LayerRow> rows;
  for (auto& [n, child] : children()) {
    auto it = shapes.find(n);
    rows.push_back({n, it == shapes.end() ? "-" : it->second.str(), child->num_parameters()});
  }
  rows.push_back({"output", out.pred.shape().str(), 0});
  return rows;
}

}  // namespace dru
