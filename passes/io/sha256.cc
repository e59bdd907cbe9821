#include "passes/io/sha256.h"

#include <openssl/evp.h>

namespace reinit {

Sha256Digest::Sha256Digest() : ctx_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(ctx_, EVP_sha256(), nullptr); }

Sha256Digest::~Sha256Digest() { EVP_MD_CTX_free(ctx_); }

void Sha256Digest::Update(const char* data, size_t size) { EVP_DigestUpdate(ctx_, data, size); }

std::string Sha256Digest::Hex() {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx_, digest, &len);
  static const char* kHex = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[digest[i] >> 4];
    hex += kHex[digest[i] & 15];
  }
  return hex;
}

}  // namespace reinit
