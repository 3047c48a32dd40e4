package cmdkit

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"runtime"
)

// LoadTLS reads a PEM certificate (chain) and its private key for an HTTPS
// listener; a missing, unreadable or mismatched file is a start-up error
// naming both files.
func LoadTLS(certFile, keyFile string) (*tls.Config, error) {
	if certFile == "" && keyFile == "" {
		return nil, nil
	}
	if certFile == "" || keyFile == "" {
		return nil, fmt.Errorf("tls-cert and tls-key go together: give both (a PEM certificate chain and its private key) or neither")
	}
	cert, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("tls: cannot use --tls-cert %s with --tls-key %s: %w", certFile, keyFile, err)
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}, nil
}

// WithTLS is ln serving TLS with tc (ln itself when tc is nil).
func WithTLS(ln net.Listener, tc *tls.Config) net.Listener {
	if tc == nil {
		return ln
	}
	return tls.NewListener(ln, tc)
}

// OpenKeyFile says why a private key or secret file is too open ("" when
// it is not, or cannot be read): users other than its owner and group may
// read or change it. The command still starts (certificate tooling often
// writes keys 0644 into a directory that guards them), but says so, as it
// does for a secret key file.
func OpenKeyFile(path string) string {
	if path == "" || runtime.GOOS == "windows" {
		return ""
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm()&0o007 == 0 {
		return ""
	}
	return fmt.Sprintf("%s is readable or writable by every user of the machine (mode %04o): chmod 600 it (or 640 for a group)", path, st.Mode().Perm())
}
