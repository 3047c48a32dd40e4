package cmdkit

import (
	"crypto/tls"
	"fmt"
	"net"
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
