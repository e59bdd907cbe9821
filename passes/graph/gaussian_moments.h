// Expectations of a function of one Gaussian variable, E[f(z)] for z ~ N(mean, var), by quadrature: the mean-field theory of signal propagation (Poole et al. 2016, Schoenholz et al. 2017)
// needs exactly these moments of each activation, E[phi(z)], E[phi(z)^2] and E[phi'(z)^2].
#pragma once

#include <functional>

namespace reinit {

using ScalarFunction = std::function<double(double)>;

struct FunctionMoments {
  double mean = 0;         // E[f(z)]
  double second = 0;       // E[f(z)^2]
  double slope_second = 0;  // E[f'(z)^2], f' by central differences
  double fourth = 0;        // E[f(z)^4]
};

// The moments of f(z), z ~ N(mean, var) (var >= 0; var 0 is f at the mean), by composite Gauss-Legendre
// over +-10 standard deviations with a panel boundary at z = 0 (gaussian_moments.cc says why): within
// 1e-6 of direct integration for smooth activations and those with a kink at 0.
FunctionMoments GaussianMoments(const ScalarFunction& f, double mean, double var);

// Closed forms for the ReLU family, f(z) = max(z, 0) + slope * min(z, 0), z ~ N(mean, var).
FunctionMoments LeakyReluMoments(double slope, double mean, double var);

}  // namespace reinit
