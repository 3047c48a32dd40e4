// Package clientlive tests the Go SDK (the module at client/) against a
// live Gatehouse started in the test process. The tests live here, in the
// server's module, so that the SDK's own module needs none of the
// server's packages, not even to test: `go get` of the SDK pulls in
// nothing but the SDK.
package clientlive
