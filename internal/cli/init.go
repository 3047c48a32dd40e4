package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/gatehouse-dev/gatehouse/internal/app"
	"github.com/gatehouse-dev/gatehouse/internal/config"
	"github.com/spf13/cobra"
)

func initCmd(ctx context.Context, cfg *config.Config, stdout, stderr io.Writer) *cobra.Command {
	opt := app.DefaultInitOptions()
	var output string
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Create the first organization and print its API key (idempotent)",
		Long: `Create the first organization, its Admin member, a default project with development and
production environments, and an organization API key holding every scope. The key is printed
once and cannot be shown again. Running init again changes nothing.

The printed links (the example call, the Admin's setup link, the dashboard) start with
--public-url, else with http:// and the address serve will listen on (GATEHOUSE_ADDR, default
127.0.0.1:8080): pass --public-url when serve will run elsewhere (serve --addr :9090, a proxy).`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if output != "text" && output != "json" {
				return fmt.Errorf("--output %q: want text or json", output)
			}
			a, err := app.New(ctx, *cfg, newLogger(*cfg, stderr))
			if err != nil {
				return err
			}
			defer a.Close()
			res, err := a.Init(ctx, opt)
			if err != nil {
				return err
			}
			printInit(stdout, res, output, cfg.PublicBase(cfg.Addr), cfg.Region, cfg.APIURL(cfg.Addr))
			return nil
		},
	}
	cmd.Flags().StringVar(&opt.OrgName, "org-name", opt.OrgName, "organization name")
	cmd.Flags().StringVar(&opt.OrgKey, "org-key", "", "organization key (derived from the name when empty)")
	cmd.Flags().StringVar(&opt.AdminEmail, "admin-email", opt.AdminEmail, "email of the first Admin member")
	cmd.Flags().StringVar(&opt.AdminName, "admin-name", opt.AdminName, "name of the first Admin member")
	cmd.Flags().StringVarP(&output, "output", "o", "text", "text or json")
	if err := settingFlag(cmd, cfg, "public-url"); err != nil {
		panic(err) // a setting renamed without this command
	}
	return cmd
}

// InitOutput is what `gatehouse init --output json` prints.
type InitOutput struct {
	Created          bool              `json:"created"`
	OrganizationID   string            `json:"organization_id"`
	OrganizationKey  string            `json:"organization_key"`
	AdminEmail       string            `json:"admin_email,omitempty"`
	ProjectKey       string            `json:"project_key,omitempty"`
	Environments     map[string]string `json:"environments,omitempty"`
	APIKeyID         string            `json:"api_key_id,omitempty"`
	APIKey           string            `json:"api_key,omitempty"`
	AdminSetupURL    string            `json:"admin_setup_url,omitempty"`
	Scopes           []string          `json:"scopes,omitempty"`
	Region           string            `json:"region,omitempty"`
	APIURL           string            `json:"api_url"`
	AlreadyInitiated string            `json:"message,omitempty"`
}

func printInit(w io.Writer, res *app.InitResult, format, baseURL, region, apiURL string) {
	out := InitOutput{Created: res.Created, OrganizationID: res.Organization.ID, OrganizationKey: res.Organization.Key, Region: region, APIURL: apiURL}
	if res.Created {
		b := res.Bootstrap
		out.AdminSetupURL = baseURL + res.SetupPath
		out.AdminEmail, out.ProjectKey = b.Admin.Email, b.Project.Key
		out.Environments = map[string]string{}
		for _, e := range b.Environments {
			out.Environments[e.Key] = e.ID
		}
		out.APIKeyID, out.APIKey = res.Key.ID, res.Token
		for _, s := range res.Key.Scopes.Scopes() {
			out.Scopes = append(out.Scopes, string(s))
		}
	} else {
		out.AlreadyInitiated = "already initialized: nothing was created and no key can be shown again; create keys with POST /v1/api-keys"
	}
	if format == "json" {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
		return
	}
	if !res.Created {
		fmt.Fprintf(w, "Gatehouse is already initialized (organization %s, id %s).\nNothing was created; an API key is shown only when it is created.\n", out.OrganizationKey, out.OrganizationID)
		return
	}
	where := ""
	if region != "" {
		where = "  region:        " + region + " (the organization's data stays in this region's cluster)\n"
	}
	where += "  SDK apiUrl:    " + apiURL + "\n"
	fmt.Fprintf(w, `Gatehouse initialized.
  organization:  %s (id %s)
  admin member:  %s
  project:       %s, environments: development, production
  scopes:        %s
%s
Organization API key (shown once, store it now):

%s

Try it:
  export GATEHOUSE_KEY='%s'
  curl -H "Authorization: Bearer $GATEHOUSE_KEY" -H "X-Organization-Id: %s" %s/v1/projects

Dashboard: the Admin (%s) chooses a password here, once, within 7 days:
  %s
then signs in at %s/
`, out.OrganizationKey, out.OrganizationID, out.AdminEmail, out.ProjectKey, strings.Join(out.Scopes, " "), where, out.APIKey, out.APIKey, out.OrganizationID, baseURL,
		out.AdminEmail, out.AdminSetupURL, baseURL)
}
