#include "passes/graph/tensor_values.h"

#include <gtest/gtest.h>

#include "tests/test_util.h"

namespace reinit {
namespace {

using onnx::TensorProto;
using test::Storage;

class RoundTrip : public ::testing::TestWithParam<std::tuple<int32_t, Storage>> {};

TEST_P(RoundTrip, WritesInTheTensorsOwnTypeAndField) {
  const auto [dtype, storage] = GetParam();
  onnx::ModelProto model;
  TensorProto* t = test::AddInitializer(model, "t", {2, 3}, dtype, storage);
  const std::vector<double> in = {0.25, -1.5, 3.0, 0.1, -0.3, 65504.0};
  ASSERT_TRUE(WriteValues(in, t).ok());
  EXPECT_EQ(t->data_type(), dtype);
  EXPECT_EQ(t->has_raw_data(), storage == Storage::kRaw);
  const std::vector<double> out = test::Values(*t);
  ASSERT_EQ(out.size(), in.size());
  // Exactly representable in every type: 0.25, -1.5, 3.0. The rest round to the type's precision.
  EXPECT_EQ(out[0], 0.25);
  EXPECT_EQ(out[1], -1.5);
  EXPECT_EQ(out[2], 3.0);
  const double eps = dtype == TensorProto::DOUBLE ? 1e-16 : dtype == TensorProto::FLOAT ? 1e-7
                     : dtype == TensorProto::FLOAT16 ? 1e-3 : 8e-3;  // half: 11 bits, bf16: 8 bits
  EXPECT_NEAR(out[3], 0.1, 0.1 * eps);
  EXPECT_NEAR(out[4], -0.3, 0.3 * eps);
  if (dtype == TensorProto::DOUBLE) EXPECT_EQ(out[3], 0.1);
}

INSTANTIATE_TEST_SUITE_P(AllFloatTypes, RoundTrip,
                         ::testing::Combine(::testing::Values(TensorProto::FLOAT, TensorProto::DOUBLE,
                                                              TensorProto::FLOAT16, TensorProto::BFLOAT16),
                                            ::testing::Values(Storage::kRaw, Storage::kTyped)),
                         [](const auto& info) {
                           return test::TypeStorageName(std::get<0>(info.param), std::get<1>(info.param));
                         });

TEST(TensorData, HalfAndBfloatRoundToNearestEven) {
  onnx::ModelProto model;
  TensorProto* h = test::AddInitializer(model, "h", {1}, TensorProto::FLOAT16, Storage::kTyped);
  ASSERT_TRUE(WriteValues({1.0 + 1.0 / 2048}, h).ok());  // halfway between 1 and 1+2^-10: ties to even (1)
  EXPECT_EQ(h->int32_data(0), 0x3C00);
  TensorProto* b = test::AddInitializer(model, "b", {1}, TensorProto::BFLOAT16, Storage::kTyped);
  ASSERT_TRUE(WriteValues({1.0}, b).ok());
  EXPECT_EQ(b->int32_data(0), 0x3F80);
}

TEST(TensorData, RejectsStorageThatDoesNotMatchTheShape) {
  onnx::ModelProto model;
  TensorProto* t = test::AddInitializer(model, "short", {4}, TensorProto::FLOAT);
  t->mutable_raw_data()->resize(12);
  std::vector<double> v;
  Status s = ReadValues(*t, &v);
  EXPECT_EQ(s.code(), ExitCode::kBadModel);
  EXPECT_EQ(s.message(), "tensor 'short': raw_data has 12 bytes, the shape needs 16");

  TensorProto* typed = test::AddInitializer(model, "typed", {3}, TensorProto::FLOAT, Storage::kTyped);
  typed->add_float_data(1);
  s = ReadValues(*typed, &v);
  EXPECT_EQ(s.message(), "tensor 'typed': holds 4 values, the shape needs 3");
}

TEST(TensorData, RejectsNegativeAndOverflowingDims) {
  TensorProto t;
  t.set_name("big");
  t.add_dims(1LL << 40);
  t.add_dims(1LL << 40);
  int64_t n = 0;
  EXPECT_EQ(ElementCount(t, &n).message(), "tensor 'big': element count overflows 64 bits");
  t.clear_dims();
  t.add_dims(-3);
  EXPECT_EQ(ElementCount(t, &n).message(), "tensor 'big': negative dimension -3");
}

TEST(TensorData, OnlyFloatTypesAreReadable) {
  EXPECT_TRUE(IsFloatType(TensorProto::BFLOAT16));
  EXPECT_FALSE(IsFloatType(TensorProto::INT64));
  TensorProto t;
  t.set_name("shape");
  t.set_data_type(TensorProto::INT64);
  t.add_dims(2);
  t.add_int64_data(1);
  t.add_int64_data(2);
  std::vector<double> v;
  EXPECT_EQ(ReadValues(t, &v).code(), ExitCode::kUnsupported);
}

}  // namespace
}  // namespace reinit
