// The server's TLS certificate: a given one, or a self-signed one made on
// first start so a fresh install speaks HTTPS at once. Clients trust a
// self-signed certificate by pinning its public key (`tianye sync --pin`),
// which the server prints at every start.
#ifndef TIANYE_SERVER_TLS_CERT_H_
#define TIANYE_SERVER_TLS_CERT_H_

#include <string>
#include <vector>

#include "tianye/status.h"

namespace tianye::server {

struct TlsFiles {
  std::string cert_file;  // PEM certificate (chain)
  std::string key_file;   // PEM private key
  bool made_now = false;  // the self-signed pair was created by this call
};

// DIR/tls-cert.pem and DIR/tls-key.pem; when neither exists, makes a
// self-signed P-256 certificate valid for 10 years for `names` (host names
// and IP addresses; localhost and 127.0.0.1 are always included), the key
// file 0600. Errors: kPermissionDenied when the key file can be read by other
// users, kIOError when the files cannot be written, kInvalidArgument when
// only one of the two exists.
Result<TlsFiles> EnsureSelfSigned(const std::string& dir, const std::vector<std::string>& names);

// Checks that `files` hold a certificate and the private key that matches it.
// Errors: kInvalidArgument naming the file that is unreadable or the mismatch.
Status CheckKeyPair(const TlsFiles& files);

// What a client needs to trust the certificate in `cert_file`:
struct CertIdentity {
  std::string pin;          // "sha256//" + base64(SHA-256 of the public key), for --pin
  std::string fingerprint;  // SHA-256 of the certificate, "AB:CD:..." as browsers show it
};
Result<CertIdentity> IdentityOf(const std::string& cert_file);

}  // namespace tianye::server

#endif  // TIANYE_SERVER_TLS_CERT_H_
