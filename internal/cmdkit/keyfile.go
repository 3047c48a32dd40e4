package cmdkit

import (
	"fmt"
	"io"
	"os"
	"strings"
)

// KeySources is how an API key reaches a command, safest first in the
// help: a key passed in a flag shows in ps and in the shell's history.
const KeySources = "GATEHOUSE_API_KEY or --key-file FILE"

// ReadKeyFile reads an API key from a file (--key-file): the file holds the
// key alone, surrounding white space aside. Errors never show its content.
func ReadKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", fmt.Errorf("--key-file: %w", err)
	}
	defer f.Close()
	const max = 64 << 10
	b, err := io.ReadAll(io.LimitReader(f, max+1))
	if err != nil {
		return "", fmt.Errorf("--key-file %s: %w", path, err)
	}
	if len(b) > max {
		return "", fmt.Errorf("--key-file %s: larger than 64 KiB, so not an API key", path)
	}
	key := strings.TrimSpace(string(b))
	switch {
	case key == "":
		return "", fmt.Errorf("--key-file %s is empty", path)
	case strings.ContainsAny(key, " \t\r\n"):
		return "", fmt.Errorf("--key-file %s holds more than one word: it should hold the API key alone", path)
	}
	return key, nil
}
