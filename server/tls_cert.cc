#include "tls_cert.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <memory>

namespace tianye::server {
namespace {

struct Free {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(X509* p) const { X509_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
};
template <class T>
using Ptr = std::unique_ptr<T, Free>;

bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

bool IsIpAddress(const std::string& name) {
  return name.find_first_not_of("0123456789.") == std::string::npos ||
         name.find(':') != std::string::npos;
}

bool AddExtension(X509* cert, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  Ptr<X509_EXTENSION> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
  return ext && X509_add_ext(cert, ext.get(), -1) == 1;
}

// Writes `pem` from `write` into `path` created with `mode` (never replacing).
template <class Write>
Status WritePem(const std::string& path, mode_t mode, Write write) {
  Ptr<BIO> bio(BIO_new(BIO_s_mem()));
  if (!bio || !write(bio.get())) return Status::Internal("cannot encode " + path);
  char* data = nullptr;
  long n = BIO_get_mem_data(bio.get(), &data);
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, mode);
  if (fd < 0) return Status::IOError("cannot create " + path + ": " + std::strerror(errno));
  bool ok = ::write(fd, data, static_cast<size_t>(n)) == n && ::fsync(fd) == 0;
  ::close(fd);
  if (!ok) return Status::IOError("cannot write " + path);
  return Status::Ok();
}

Result<Ptr<X509>> ReadCert(const std::string& path) {
  Ptr<BIO> bio(BIO_new_file(path.c_str(), "r"));
  if (!bio) return Status::InvalidArgument("cannot read the certificate " + path);
  Ptr<X509> cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return Status::InvalidArgument(path + " does not hold a PEM certificate");
  return cert;
}

std::string Base64(const unsigned char* data, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

}  // namespace

Result<TlsFiles> EnsureSelfSigned(const std::string& dir, const std::vector<std::string>& names) {
  TlsFiles files{dir + "/tls-cert.pem", dir + "/tls-key.pem", false};
  bool has_cert = Exists(files.cert_file), has_key = Exists(files.key_file);
  if (has_cert != has_key) {
    return Status::InvalidArgument("found only one of " + files.cert_file + " and " + files.key_file +
                                   "; restore the other or remove both to make a new certificate");
  }
  if (has_key) {
    struct stat st {};
    if (::stat(files.key_file.c_str(), &st) == 0 && (st.st_mode & 077) != 0) {
      return Status::PermissionDenied(files.key_file + " can be read by other users; run: chmod 600 " +
                                      files.key_file);
    }
    return files;
  }

  Ptr<EVP_PKEY> key(EVP_EC_gen("P-256"));
  Ptr<X509> cert(X509_new());
  if (!key || !cert) return Status::Internal("cannot make a TLS key");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return Status::Internal("no random bytes for the certificate");
  serial[0] &= 0x7f;  // a positive serial number
  Ptr<BIGNUM> bn(BN_bin2bn(serial, sizeof serial, nullptr));
  X509_set_version(cert.get(), X509_VERSION_3);
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  // Valid from a day ago, so a device whose clock is behind still accepts it.
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -24L * 3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert.get(), key.get());
  X509_NAME* subject = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("tianye-server"), -1, -1, 0);
  X509_set_issuer_name(cert.get(), subject);

  std::vector<std::string> all = {"localhost", "127.0.0.1"};
  for (const std::string& n : names) {
    if (!n.empty() && n != "0.0.0.0" && n != "::" && std::find(all.begin(), all.end(), n) == all.end()) {
      all.push_back(n);
    }
  }
  std::string san;
  for (const std::string& n : all) san += (san.empty() ? "" : ",") + std::string(IsIpAddress(n) ? "IP:" : "DNS:") + n;
  if (!AddExtension(cert.get(), NID_subject_alt_name, san) ||
      !AddExtension(cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !AddExtension(cert.get(), NID_key_usage, "critical,digitalSignature,keyCertSign") ||
      !AddExtension(cert.get(), NID_ext_key_usage, "serverAuth") ||
      !AddExtension(cert.get(), NID_subject_key_identifier, "hash")) {
    return Status::Internal("cannot describe the certificate (names: " + san + ")");
  }
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) return Status::Internal("cannot sign the certificate");

  // The key first: a crash in between leaves a key without a certificate,
  // which the next start reports instead of silently replacing.
  Status s = WritePem(files.key_file, 0600, [&](BIO* b) {
    return PEM_write_bio_PrivateKey(b, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  });
  if (!s.ok()) return s;
  s = WritePem(files.cert_file, 0644, [&](BIO* b) { return PEM_write_bio_X509(b, cert.get()) == 1; });
  if (!s.ok()) return s;
  files.made_now = true;
  return files;
}

Status CheckKeyPair(const TlsFiles& files) {
  Result<Ptr<X509>> cert = ReadCert(files.cert_file);
  if (!cert) return cert.error();
  Ptr<BIO> bio(BIO_new_file(files.key_file.c_str(), "r"));
  if (!bio) return Status::InvalidArgument("cannot read the private key " + files.key_file);
  Ptr<EVP_PKEY> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return Status::InvalidArgument(files.key_file + " does not hold a PEM private key (or it has a passphrase)");
  if (X509_check_private_key(cert->get(), key.get()) != 1) {
    return Status::InvalidArgument(files.key_file + " is not the key of the certificate " + files.cert_file);
  }
  return Status::Ok();
}

Result<CertIdentity> IdentityOf(const std::string& cert_file) {
  TIANYE_ASSIGN_OR_RETURN(Ptr<X509> cert, ReadCert(cert_file));
  unsigned char* spki = nullptr;
  int spki_len = i2d_PUBKEY(X509_get0_pubkey(cert.get()), &spki);
  if (spki_len <= 0) return Status::InvalidArgument(cert_file + ": cannot read its public key");
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  bool ok = EVP_Digest(spki, static_cast<size_t>(spki_len), digest, &digest_len, EVP_sha256(), nullptr) == 1;
  OPENSSL_free(spki);
  if (!ok) return Status::Internal("cannot hash the public key");
  CertIdentity id;
  id.pin = "sha256//" + Base64(digest, digest_len);
  if (X509_digest(cert.get(), EVP_sha256(), digest, &digest_len) != 1) {
    return Status::Internal("cannot hash the certificate");
  }
  char hex[4];
  for (unsigned int i = 0; i < digest_len; ++i) {
    std::snprintf(hex, sizeof hex, "%02X", digest[i]);
    id.fingerprint += (i ? ":" : "") + std::string(hex);
  }
  return id;
}

}  // namespace tianye::server
