// SHA-256 through OpenSSL's EVP interface, fed in pieces; the hex digest at the end.
#pragma once

#include <cstddef>
#include <string>

typedef struct evp_md_ctx_st EVP_MD_CTX;

namespace reinit {

class Sha256Digest {
 public:
  Sha256Digest();
  ~Sha256Digest();
  Sha256Digest(const Sha256Digest&) = delete;
  Sha256Digest& operator=(const Sha256Digest&) = delete;

  void Update(const char* data, size_t size);
  // Lowercase hex; call once, at the end.
  std::string Hex();

 private:
  EVP_MD_CTX* ctx_;
};

}  // namespace reinit
