// passes/assembly: how a layer's input is assembled from stored tensors by data-movement ops, and the
// decisions that depend on it — gate blocks of recurrent weights reordered by an exporter, the forget
// gate's stored elements, pieces of one tensor that reach different layers.
#include <gtest/gtest.h>

#include <Eigen/Dense>
#include <cmath>
#include <numeric>

#include "passes/graph/assembly.h"
#include "passes/io/model_io.h"
#include "passes/untie_shared.h"
#include "tests/test_util.h"

namespace reinit {
namespace {

// The stored element of every assembled element, row-major: what the assembly claims.
std::vector<int64_t> Map(const Assembly& a, const std::string& tensor) {
  Shape lo(a.shape().size(), 0);
  return a.StoredElements(tensor, lo, a.shape());
}

std::vector<int64_t> Iota(int64_t from, int64_t to) {
  std::vector<int64_t> v(static_cast<size_t>(to - from));
  std::iota(v.begin(), v.end(), from);
  return v;
}

TEST(Assembly, SliceConcatAndUnsqueezeReorderRows) {
  // PyTorch's LSTM gate reordering: rows [0:2], [6:8], [2:6] of a [8, 3] weight.
  Assembly w = Assembly::Whole("W", {8, 3});
  Assembly a = w, b = w, c = w;
  ASSERT_TRUE(a.Slice(0, 0, 2, 1));
  ASSERT_TRUE(b.Slice(0, 6, 8, 1));
  ASSERT_TRUE(c.Slice(0, 2, 6, 1));
  auto cat = Assembly::Concat(0, {a, b, c});
  ASSERT_TRUE(cat.has_value());
  ASSERT_TRUE(cat->Unsqueeze({0}));
  EXPECT_EQ(cat->shape(), (Shape{1, 8, 3}));
  std::vector<int64_t> expected = Iota(0, 6);
  for (int64_t e : Iota(18, 24)) expected.push_back(e);
  for (int64_t e : Iota(6, 18)) expected.push_back(e);
  EXPECT_EQ(Map(*cat, "W"), expected);
  EXPECT_EQ(cat->Uses("W"), Iota(0, 24));
  EXPECT_FALSE(cat->IsWhole("W"));
}

TEST(Assembly, TransposeStepsAndGather) {
  Assembly a = Assembly::Whole("W", {2, 3});
  ASSERT_TRUE(a.Transpose({1, 0}));
  EXPECT_EQ(Map(a, "W"), (std::vector<int64_t>{0, 3, 1, 4, 2, 5}));
  Assembly s = Assembly::Whole("V", {6});
  ASSERT_TRUE(s.Slice(0, 1, 100, 2));  // ends beyond the axis are clamped; every other element
  EXPECT_EQ(Map(s, "V"), (std::vector<int64_t>{1, 3, 5}));
  Assembly g = Assembly::Whole("E", {4, 2});
  ASSERT_TRUE(g.Gather(0, {3, 0, 1}, false));
  EXPECT_EQ(Map(g, "E"), (std::vector<int64_t>{6, 7, 0, 1, 2, 3}));
  EXPECT_EQ(g.blocks().size(), 2u);  // 0, 1 consecutive: one block
  Assembly one = Assembly::Whole("E", {4, 2});
  ASSERT_TRUE(one.Gather(0, {-1}, true));  // a scalar index drops the axis
  EXPECT_EQ(one.shape(), (Shape{2}));
  EXPECT_EQ(Map(one, "E"), (std::vector<int64_t>{6, 7}));
}

TEST(Assembly, ReshapeOnlyWhereNumpyWouldNotCopy) {
  Assembly a = Assembly::Whole("W", {4, 6});
  ASSERT_TRUE(a.Reshape({2, 2, 6}));
  EXPECT_TRUE(a.IsWhole("W"));
  Assembly t = Assembly::Whole("W", {4, 6});
  ASSERT_TRUE(t.Transpose({1, 0}));
  EXPECT_FALSE(t.Reshape({24}));        // a transposed view is not contiguous
  EXPECT_TRUE(t.Reshape({1, 6, 1, 4}));  // unit axes only: always
}

TEST(Assembly, ConcatOfTwoTensorsAndExpand) {
  auto cat = Assembly::Concat(0, {Assembly::Whole("A", {1, 4}), Assembly::Whole("B", {3, 4})});
  ASSERT_TRUE(cat.has_value());
  EXPECT_EQ(cat->shape(), (Shape{4, 4}));
  EXPECT_EQ(cat->StoredElements("B", {1, 0}, {2, 4}), Iota(0, 4));
  EXPECT_TRUE(cat->StoredElements("A", {1, 0}, {4, 4}).empty());
  EXPECT_FALSE(Assembly::Concat(0, {Assembly::Whole("A", {1, 4}), Assembly::Whole("B", {1, 5})}).has_value());
  Assembly e = Assembly::Whole("C", {1, 3});
  ASSERT_TRUE(e.Expand({2, 3}));
  EXPECT_EQ(Map(e, "C"), (std::vector<int64_t>{0, 1, 2, 0, 1, 2}));
}

// UsesAllOnce says what Uses would list as 0..n-1, for the assemblies where it is true, and only those
// (Uses is the reference it is checked against).
TEST(Assembly, UsesAllOnceAgreesWithUses) {
  auto all_once = [](const Assembly& a, const std::string& t, int64_t n) { return a.Uses(t) == Iota(0, n); };
  std::vector<std::pair<Assembly, bool>> cases;
  cases.push_back({Assembly::Whole("W", {4, 6}), true});
  Assembly t = Assembly::Whole("W", {4, 6});
  ASSERT_TRUE(t.Transpose({1, 0}));
  cases.push_back({t, true});
  Assembly u = Assembly::Whole("W", {4, 6});
  ASSERT_TRUE(u.Unsqueeze({0}) && u.Transpose({2, 0, 1}));
  cases.push_back({u, true});
  Assembly half = Assembly::Whole("W", {4, 6});
  ASSERT_TRUE(half.Slice(0, 0, 2, 1));
  cases.push_back({half, false});
  Assembly stepped = Assembly::Whole("W", {4, 6});
  ASSERT_TRUE(stepped.Slice(1, 0, 6, 2));
  cases.push_back({stepped, false});
  for (size_t i = 0; i < cases.size(); ++i) {
    const auto& [a, expected] = cases[i];
    EXPECT_EQ(a.UsesAllOnce("W", 24), expected) << "case " << i;
    EXPECT_EQ(all_once(a, "W", 24), expected) << "case " << i;
    EXPECT_FALSE(a.UsesAllOnce("V", 24)) << "case " << i;  // another tensor
  }
  // Every element read twice: Uses lists each once, but the assembly is no view of W alone.
  Assembly twice = Assembly::Whole("W", {1, 24});
  ASSERT_TRUE(twice.Expand({2, 24}));
  EXPECT_FALSE(twice.UsesAllOnce("W", 24));
  EXPECT_EQ(twice.Uses("W"), Iota(0, 24));
  // Another tensor concatenated to the whole of W: W is still used whole, but not by one view alone.
  auto cat = Assembly::Concat(0, {Assembly::Whole("W", {4, 6}), Assembly::Whole("V", {1, 6})});
  ASSERT_TRUE(cat.has_value());
  EXPECT_FALSE(cat->UsesAllOnce("W", 24));  // the listing path decides, correctly
  EXPECT_EQ(cat->Uses("W"), Iota(0, 24));
}

// ---- exported models: models/graphs (models/make_graphs.py) -------------------------------------------

std::vector<double> Values(const test::Run& run, const std::string& name) { return test::Values(*run.Row(name).tensor); }

// Largest |Q Q^T - I| of the [h, h] block of `v` starting at element `offset`.
double OrthogonalityError(const std::vector<double>& v, int64_t offset, int64_t h) {
  Eigen::Map<const Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>> q(v.data() + offset, h, h);
  return (q * q.transpose() - Eigen::MatrixXd::Identity(h, h)).cwiseAbs().maxCoeff();
}

onnx::ModelProto Graph(const std::string& name) {
  onnx::ModelProto m;
  EXPECT_TRUE(LoadModel(test::ModelPath("graphs/" + name), &m).ok()) << name;
  return m;
}

// nn.LSTM exported without constant folding: weights stored in PyTorch's gate order (i, f, g, o) and
// reordered into ONNX's (i, o, f, c) by Slices on axis 0, a Concat and an Unsqueeze.
TEST(ExportedGraphs, ReorderedLstmWeightsAreRecurrentWithGateBlocksInTheStoredLayout) {
  auto run = test::Rewrite(Graph("lstm_nofold.onnx"));
  const ParamRow& w = run->Row("rnn.weight_ih_l0");
  const ParamRow& r = run->Row("rnn.weight_hh_l0");
  EXPECT_EQ(w.role, Role::kRecurrentInput);
  EXPECT_EQ(w.fans->in, 6);
  EXPECT_EQ(w.fans->out, 8);
  EXPECT_EQ(w.init.scheme, Scheme::kXavier);
  EXPECT_EQ(r.role, Role::kRecurrentHidden);
  EXPECT_EQ(r.init.scheme, Scheme::kOrthogonal);
  // ONNX's gate g reads PyTorch's block {i: 0, o: 3, f: 1, c: 2}.
  EXPECT_EQ(r.gates.block_offsets, (std::vector<int64_t>{0, 3 * 64, 1 * 64, 2 * 64}));
  const std::vector<double> v = Values(*run, "rnn.weight_hh_l0");
  for (int64_t block = 0; block < 4; ++block) EXPECT_LT(OrthogonalityError(v, block * 64, 8), 1e-5) << block;
  for (const char* b : {"rnn.bias_ih_l0", "rnn.bias_hh_l0"}) {
    EXPECT_EQ(run->Row(b).role, Role::kRecurrentBias) << b;
    for (double x : Values(*run, b)) EXPECT_EQ(x, 0.0);
  }
}

TEST(ExportedGraphs, TheForgetGateBiasLandsOnPyTorchsForgetRows) {
  Policy keras;
  keras.preset = "keras";  // unit_forget_bias: the forget block of Wb is 1
  auto run = test::Rewrite(Graph("lstm_nofold.onnx"), keras);
  const std::vector<double> ih = Values(*run, "rnn.bias_ih_l0");
  for (int64_t i = 0; i < 32; ++i) EXPECT_EQ(ih[i], i >= 8 && i < 16 ? 1.0 : 0.0) << i;  // PyTorch's f: rows 8..15
  for (double x : Values(*run, "rnn.bias_hh_l0")) EXPECT_EQ(x, 0.0);  // Rb has no forget bias
  EXPECT_EQ(run->Row("rnn.bias_ih_l0").gates.forget_elements, Iota(8, 16));
}

TEST(ExportedGraphs, ReorderedGruIsRecurrentToo) {
  auto run = test::Plan(Graph("gru_nofold.onnx"));
  EXPECT_EQ(run->Row("rnn.weight_ih_l0").role, Role::kRecurrentInput);
  EXPECT_EQ(run->Row("rnn.weight_hh_l0").init.scheme, Scheme::kOrthogonal);
  EXPECT_EQ(run->Row("rnn.weight_hh_l0").gates.block_offsets.size(), 3u);
}

TEST(ExportedGraphs, ASplitQkvWeightIsThreePiecesEachDecidedByItsLayer) {
  auto run = test::Rewrite(Graph("qkv_split.onnx"));
  std::vector<const ParamRow*> pieces;
  for (const ParamRow& row : run->table) {
    if (row.name == "attn.qkv.weight") pieces.push_back(&row);
  }
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0]->piece_text, "[:, 0:16]");
  EXPECT_EQ(pieces[2]->piece_text, "[:, 32:48]");
  for (const ParamRow* p : pieces) {
    EXPECT_EQ(p->role, Role::kWeight);
    EXPECT_EQ(p->fans->in, 16);
    EXPECT_EQ(p->fans->out, 16);  // one 16 -> 16 projection, not the fused 16 -> 48
    EXPECT_NEAR(*p->init.bound, std::sqrt(6.0 / 32), 1e-12);
    ASSERT_TRUE(p->stats.has_value());
    EXPECT_LE(p->stats->max, *p->init.bound);
    EXPECT_GE(p->stats->min, -*p->init.bound);
    EXPECT_NE(p->role_reason.find("piece " + p->piece_text), std::string::npos) << p->role_reason;
  }
  // The bias is split the same way, and each piece is a bias (zeros).
  for (const ParamRow& row : run->table) {
    if (row.name == "attn.qkv.bias") EXPECT_EQ(row.role, Role::kBias) << row.piece_text;
  }
  for (double x : Values(*run, "attn.qkv.bias")) EXPECT_EQ(x, 0.0);
}

TEST(ExportedGraphs, AWeightAssembledByConcatHasTheFansOfTheWholeMatrix) {
  auto run = test::Plan(Graph("concat_weight.onnx"));
  for (const char* w : {"fc.weight_a", "fc.weight_b"}) {
    EXPECT_EQ(run->Row(w).role, Role::kWeight) << w;
    EXPECT_EQ(run->Row(w).fans->in, 16) << w;
    EXPECT_EQ(run->Row(w).primary_use()->shape, (Shape{16, 16})) << w;
    EXPECT_EQ(run->Row(w).init.scheme, Scheme::kHe) << w;
  }
  EXPECT_EQ(run->Row("fc.bias").role, Role::kBias);
}

}  // namespace
}  // namespace reinit

namespace reinit {
namespace {

// A tensor cut into Slices that meet again in one Concat feeds one layer: --untie-shared has nothing
// to untie. The same tensor read whole by a second layer gets one copy for that layer.
TEST(ExportedGraphs, UntieSharedTreatsTheSlicesOfOneLayerAsOneUse) {
  onnx::ModelProto m = Graph("lstm_nofold.onnx");
  std::vector<std::pair<std::string, std::string>> copies;
  ASSERT_TRUE(UntieShared(&m, &copies).ok());
  EXPECT_TRUE(copies.empty());
  auto two = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,8] X) => (float[2,4] A, float[2,8] B) {
      s = Constant <value = int64[1] {4}> ()
      e = Constant <value = int64[1] {8}> ()
      z = Constant <value = int64[1] {0}> ()
      lo = Slice(W, z, s, z)
      hi = Slice(W, s, e, z)
      Wr = Concat <axis = 0> (hi, lo)
      A = MatMul(X, Wr)
      B = MatMul(X, W)
    })");
  test::AddInitializer(two, "W", {8, 4});
  copies.clear();
  ASSERT_TRUE(UntieShared(&two, &copies).ok());
  ASSERT_EQ(copies.size(), 1u);
  EXPECT_EQ(copies[0], (std::pair<std::string, std::string>{"W", "W.untied.1"}));
  EXPECT_EQ(two.graph().initializer_size(), 2);
  // The first layer's two Slices still read W; the second layer reads its copy.
  int reads_copy = 0;
  for (const auto& node : two.graph().node()) {
    for (const auto& in : node.input()) reads_copy += in == "W.untied.1";
  }
  EXPECT_EQ(reads_copy, 1);
}

}  // namespace
}  // namespace reinit

namespace reinit {
namespace {

// A submodule duplicated into both branches of an If: one parameter, drawn once, written to both.
TEST(ExportedGraphs, CopiesInTheBranchesOfAnIfStayIdentical) {
  for (const char* model : {"if_dup_init.onnx", "if_dup_const.onnx"}) {
    auto run = test::Rewrite(Graph(model));
    const ParamRow& then_w = run->Row("then.fc.weight");
    const ParamRow& else_w = run->Row("else.fc.weight");
    // The first in the table is the original (the else branch's body is indexed first here).
    const ParamRow& original = then_w.copy.has_copies ? then_w : else_w;
    const ParamRow& copy = then_w.copy.has_copies ? else_w : then_w;
    EXPECT_TRUE(original.copy.has_copies) << model;
    EXPECT_EQ(copy.copy.of, original.name) << model;
    EXPECT_EQ(copy.init.action, Action::kReinitialize);
    EXPECT_EQ(copy.init.reason.rfind("copy of '" + original.name + "' (the same values in the other branch of an If): ", 0), 0u)
        << copy.init.reason;
    EXPECT_EQ(test::Values(*then_w.tensor), test::Values(*else_w.tensor)) << model;
    onnx::ModelProto before = Graph(model);
    EXPECT_NE(test::Values(*then_w.tensor), test::Values(*test::TensorsByName(before).at("then.fc.weight")))
        << model << ": the values are new";
  }
}

// Constant folding stored the tied LM head as its own tensor, the embedding's transpose: it stays tied.
TEST(ExportedGraphs, ATiedHeadStoredTransposedStaysTheEmbeddingsTranspose) {
  auto run = test::Rewrite(Graph("tied_head_fold.onnx"));
  const ParamRow& e = run->Row("emb.weight");
  const ParamRow& h = run->Row("onnx::MatMul_26");
  EXPECT_EQ(h.copy.of, "emb.weight");
  EXPECT_TRUE(h.copy.transposed);
  EXPECT_EQ(h.init.scheme, Scheme::kNormal);  // the embedding's N(0, 1)
  const std::vector<double> ev = test::Values(*e.tensor), hv = test::Values(*h.tensor);
  const int64_t rows = e.shape[0], cols = e.shape[1];
  ASSERT_EQ(h.shape, (std::vector<int64_t>{cols, rows}));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) ASSERT_EQ(hv[c * rows + r], ev[r * cols + c]) << r << "," << c;
  }
  // Two layers equal by chance on one path are not a tie: only the two branches of an If are.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,4] X) => (float[2,4] Y) { H = MatMul(X, A)  Y = MatMul(H, B) })");
  test::AddInitializer(m, "A", {4, 4});
  test::AddInitializer(m, "B", {4, 4});
  auto same = test::Plan(std::move(m));
  EXPECT_TRUE(same->Row("B").copy.of.empty());
}

// One head per branch: "the last N layers" counts along each path, so every head is a last layer.
TEST(ExportedGraphs, ReinitLastTakesTheLastLayersOnEveryPath) {
  auto taken = [](int64_t n) {
    Policy p;
    p.selection.reinit_last = n;
    auto run = test::Plan(Graph("if_two_heads.onnx"), p);
    std::set<std::string> names;
    for (const ParamRow& row : run->table) {
      if (row.init.action == Action::kReinitialize) names.insert(row.name);
    }
    return names;
  };
  EXPECT_EQ(taken(1), (std::set<std::string>{"head_a.weight", "head_a.bias", "head_b.weight", "head_b.bias"}));
  EXPECT_EQ(taken(2), (std::set<std::string>{"head_a.weight", "head_a.bias", "head_b.weight", "head_b.bias",
                                             "trunk.weight", "trunk.bias"}));
}

}  // namespace
}  // namespace reinit

namespace reinit {
namespace {

// nn.LSTMCell / nn.GRUCell: no LSTM op, two Gemms split into the gates. The projection of the hidden
// state (input size = gate size H) is R, orthogonal per gate block; the other is W, Xavier per gate.
TEST(ExportedGraphs, CellsExportedAsGemmsAreRecurrentPerGate) {
  for (const auto& [model, gates] : std::vector<std::pair<std::string, int64_t>>{{"lstmcell_nofold.onnx", 4},
                                                                                {"grucell_nofold.onnx", 3}}) {
    auto run = test::Rewrite(Graph(model));
    const ParamRow& w = run->Row("cell.weight_ih");
    const ParamRow& r = run->Row("cell.weight_hh");
    EXPECT_EQ(w.role, Role::kRecurrentInput) << model;
    EXPECT_EQ(w.gates.blocks, gates) << model;
    EXPECT_EQ(w.fans->out, 8) << model;  // per gate, not gates * 8
    EXPECT_EQ(r.role, Role::kRecurrentHidden) << model;
    EXPECT_EQ(r.init.scheme, Scheme::kOrthogonal) << model;
    const std::vector<double> v = test::Values(*r.tensor);
    for (int64_t g = 0; g < gates; ++g) EXPECT_LT(OrthogonalityError(v, g * 64, 8), 1e-5) << model << " gate " << g;
  }
  // Input size equal to the gate size: the two projections cannot be told apart, both are W.
  auto m = test::ParseModel(R"(<ir_version: 8, opset_import: ["" : 14]>
    g (float[2,8] X, float[2,8] H) => (float[2,8] I, float[2,8] F, float[2,8] G, float[2,8] O) {
      a = Gemm <transB = 1> (X, Wih)
      b = Gemm <transB = 1> (H, Whh)
      s = Add(a, b)
      i, f, g, o = Split <axis = 1> (s)
      I = Sigmoid(i)
      F = Sigmoid(f)
      G = Tanh(g)
      O = Sigmoid(o)
    })");
  test::AddInitializer(m, "Wih", {32, 8});
  test::AddInitializer(m, "Whh", {32, 8});
  auto run = test::Plan(std::move(m));
  EXPECT_EQ(run->Row("Wih").role, Role::kRecurrentInput);
  EXPECT_EQ(run->Row("Whh").role, Role::kRecurrentInput);
  EXPECT_EQ(run->Row("Whh").init.scheme, Scheme::kXavier);
}

}  // namespace
}  // namespace reinit
