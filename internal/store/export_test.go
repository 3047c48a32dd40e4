package store

// SetDeepOffset sets the offset from which a page asked for by number is
// read through the row before it, for a benchmark to time the plain
// OFFSET read beside it; it returns a func that restores the default.
// Never in a parallel test.
func SetDeepOffset(n int) (restore func()) {
	old := deepOffset
	deepOffset = n
	return func() { deepOffset = old }
}
