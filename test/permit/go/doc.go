// Package compat holds the tests of Permit.io's Go SDK against Gatehouse
// (compat_test.go).
package compat
