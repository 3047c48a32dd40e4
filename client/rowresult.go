package client

// RowResult counts what a batch of rows did.
type RowResult struct {
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
}
