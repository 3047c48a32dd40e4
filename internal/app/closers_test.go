package app

import (
	"errors"
	"slices"
	"testing"
)

func TestClosersRunInReverseOnce(t *testing.T) {
	t.Parallel()
	var c closers
	var order []int
	errB := errors.New("b failed")
	c.add(func() error { order = append(order, 1); return nil })
	c.add(func() error { order = append(order, 2); return errB })
	c.add(func() error { order = append(order, 3); return nil })
	if err := c.close(); !errors.Is(err, errB) {
		t.Fatalf("close = %v, want the failure of one closer", err)
	}
	if !slices.Equal(order, []int{3, 2, 1}) {
		t.Fatalf("closed in order %v, want 3 2 1", order)
	}
	if err := c.close(); err != nil || len(order) != 3 {
		t.Fatalf("second close ran closers again (%v) or failed: %v", order, err)
	}
}
