package clientlive_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse-dev/gatehouse/client"
)

// A client with an environment key acts on its environment.
func Example() {
	ctx := context.Background()
	c := client.New(serverURL, envKey) // e.g. client.New("http://127.0.0.1:8080", os.Getenv("GATEHOUSE_API_KEY"))
	if _, err := c.Users.Create(ctx, client.UserInput{Key: "example-ada", Email: "ada@acme.example"}); err != nil {
		fmt.Println(err)
		return
	}
	u, err := c.Users.Get(ctx, "example-ada")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(u.Key, u.Email)
	_, err = c.Users.Get(ctx, "nobody")
	fmt.Println(client.IsNotFound(err), client.ErrorCode(err))
	// Output:
	// example-ada ada@acme.example
	// true NOT_FOUND
}

// An organization key chooses the environment.
func Example_clientWithEnvironment() {
	ctx := context.Background()
	prod := client.New(serverURL, orgKey).WithEnvironment("default", "production")
	page, err := prod.Tenants.List(ctx, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, t := range page.Items {
		fmt.Println(t.Key)
	}
	// Output: default
}

// All walks every page of a list.
func Example_usersAll() {
	ctx := context.Background()
	c := client.New(serverURL, envKey)
	for i := 1; i <= 3; i++ {
		_, _ = c.Users.Create(ctx, client.UserInput{Key: fmt.Sprintf("example-iter-%d", i)})
	}
	for u, err := range c.Users.All(ctx, &client.FactListOptions{Search: "example-iter", ListOptions: client.ListOptions{Sort: "key"}}) {
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Println(u.Key)
	}
	// Output:
	// example-iter-1
	// example-iter-2
	// example-iter-3
}

// Checks answered in this process, from a copy of the environment that
// follows every change: no network call per check.
func Example_newLocalChecker() {
	ctx := context.Background()
	c := client.New(serverURL, envKey)
	_, _ = c.Resources.Create(ctx, client.ResourceInput{Key: "invoice", Actions: []string{"pay"}})
	_, _ = c.Roles.Create(ctx, client.RoleInput{Key: "accountant", Permissions: []string{"invoice:pay"}})
	_, _ = c.Users.Create(ctx, client.UserInput{Key: "example-bea"})
	_, _ = c.RoleAssignments.Assign(ctx, "example-bea", "accountant", "")

	lc, err := client.NewLocalChecker(ctx, c)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer lc.Close()
	d := lc.Check("example-bea", "pay", "invoice", "")
	fmt.Println(d.Allow, d.Reason, d.Role)
	// Output: true granted accountant
}

// A webhook receiver checks each delivery before trusting it.
func Example_verifyWebhook() {
	secret := "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw" // shown when the endpoint was registered
	body := []byte(`{"id":"01a2","event":"user.created","timestamp":"2026-12-01T12:00:00Z","organization_id":"o1","data":{"key":"ada"}}`)
	// What Gatehouse sends (here made by hand):
	m := hmac.New(sha256.New, []byte(secret))
	m.Write(body)
	h := http.Header{}
	h.Set("X-Signature", hex.EncodeToString(m.Sum(nil)))
	h.Set("X-Webhook-Timestamp", strconv.FormatInt(time.Now().Unix(), 10))

	ev, err := client.VerifyWebhook(secret, h, body, 5*time.Minute)
	if err != nil {
		fmt.Println("refused:", err)
		return
	}
	fmt.Println(ev.Event, string(ev.Data))
	_, err = client.VerifyWebhook(secret, h, []byte(strings.Replace(string(body), "ada", "eve", 1)), 5*time.Minute)
	fmt.Println(err != nil)
	// Output:
	// user.created {"key":"ada"}
	// true
}

// A bulk import: every row is checked, then applied in batches.
func Example_jobsImport() {
	ctx := context.Background()
	c := client.New(serverURL, envKey)
	file := strings.NewReader(`{"type":"user","key":"example-imp-1"}
{"type":"user","key":"example-imp-2"}
`)
	job, err := c.Jobs.Import(ctx, file, client.ImportOptions{})
	if err != nil {
		fmt.Println(err)
		return
	}
	job, err = c.Jobs.Wait(ctx, job.ID, 50*time.Millisecond, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(job.Status, job.Result.Created)
	// Output: succeeded 2
}

// Roles on instances carried along relationship tuples: an editor of a
// folder is editor of the documents in it, and the decision's path says why.
func Example_relationshipTuplesCreateBulk() {
	ctx := context.Background()
	org := client.New(serverURL, orgKey)
	if _, err := org.Environments.Create(ctx, "default", client.EnvironmentInput{Key: "example-drive", Name: "Drive example"}); err != nil {
		fmt.Println(err)
		return
	}
	c := org.WithEnvironment("default", "example-drive")
	steps := []func() error{
		func() error {
			_, err := c.Resources.Create(ctx, client.ResourceInput{Key: "folder", Actions: []string{"read", "write"}})
			return err
		},
		func() error {
			_, err := c.Resources.Create(ctx, client.ResourceInput{Key: "doc", Actions: []string{"read", "write"}})
			return err
		},
		func() error {
			_, err := c.Relations.Create(ctx, "doc", client.RelationInput{Key: "parent", Subject: "folder"})
			return err
		},
		func() error {
			_, err := c.ResourceRoles.Create(ctx, "folder", client.ResourceRoleInput{Key: "editor", Permissions: []string{"read", "write"}})
			return err
		},
		func() error {
			_, err := c.ResourceRoles.Create(ctx, "doc", client.ResourceRoleInput{Key: "editor", Permissions: []string{"read", "write"},
				GrantedTo: []client.Derivation{{Role: "editor", OnResource: "folder", LinkedByRelation: "parent"}}})
			return err
		},
		func() error {
			_, err := c.ResourceInstances.Create(ctx, client.InstanceInput{Resource: "folder", Key: "specs"})
			return err
		},
		func() error {
			_, err := c.ResourceInstances.Create(ctx, client.InstanceInput{Resource: "doc", Key: "d1"})
			return err
		},
		func() error {
			_, err := c.RelationshipTuples.CreateBulk(ctx, []client.Tuple{{Subject: "folder:specs", Relation: "parent", Object: "doc:d1"}})
			return err
		},
		func() error { _, err := c.Users.Create(ctx, client.UserInput{Key: "bob"}); return err },
		func() error {
			_, err := c.RoleAssignments.AssignOnInstance(ctx, "bob", "editor", "folder:specs")
			return err
		},
	}
	for _, step := range steps {
		if err := step(); err != nil {
			fmt.Println(err)
			return
		}
	}
	d, err := c.Checks.Allowed(ctx, client.Check{User: "bob", Action: "write", Resource: client.CheckResource{Type: "doc", Key: "d1"}})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Allow, d.Via)
	for _, s := range d.Path {
		fmt.Println(strings.TrimSpace(s.Subject + " " + s.Relation + " " + s.Object + " " + s.Rule))
	}
	docs, _ := c.Checks.AllowedResources(ctx, client.ResourcesLookup{User: "bob", Action: "write", Type: "doc"}, nil)
	fmt.Println(docs.Items)
	// Output:
	// true instance_role
	// user:bob editor folder:specs
	// folder:specs parent doc:d1
	// user:bob editor doc:d1 folder#editor ⇒ doc#editor by parent
	// [d1]
}
