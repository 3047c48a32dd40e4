package permitv2

import "strings"

// permitPaths are the paths of Permit's API (ids as {}), from the clients
// generated from Permit's OpenAPI in its Node (permitio 2.7.6) and Go
// (permit-golang v1.2.8) SDKs, less its internal and stress-test routes.
// A call to one that Gatehouse does not serve answers 501 NOT_IMPLEMENTED,
// not 404: the path is right, the operation is missing here.
var permitPaths = []string{
	"/v2/api-key",
	"/v2/api-key/scope",
	"/v2/api-key/{}",
	"/v2/api-key/{}/rotate-secret",
	"/v2/api-key/{}/{}",
	"/v2/auth/devlogin",
	"/v2/auth/elements_login_as",
	"/v2/auth/login",
	"/v2/auth/login_elements",
	"/v2/auth/logout",
	"/v2/auth/me",
	"/v2/auth/switch_org/{}",
	"/v2/auth/{}/elements_fe_login_as",
	"/v2/decision-logs/ingress",
	"/v2/elements/{}/{}",
	"/v2/elements/{}/{}/config",
	"/v2/elements/{}/{}/config/{}",
	"/v2/elements/{}/{}/config/{}/data/active",
	"/v2/elements/{}/{}/config/{}/data/roles",
	"/v2/elements/{}/{}/config/{}/data/users",
	"/v2/elements/{}/{}/config/{}/data/users/{}",
	"/v2/elements/{}/{}/config/{}/data/users/{}/roles",
	"/v2/elements/{}/{}/{}",
	"/v2/facts/{}/{}/bulk/resource_instances",
	"/v2/facts/{}/{}/bulk/tenants",
	"/v2/facts/{}/{}/bulk/users",
	"/v2/facts/{}/{}/proxy_configs",
	"/v2/facts/{}/{}/proxy_configs/{}",
	"/v2/facts/{}/{}/relationship_tuples",
	"/v2/facts/{}/{}/relationship_tuples/bulk",
	"/v2/facts/{}/{}/resource_instances",
	"/v2/facts/{}/{}/resource_instances/{}",
	"/v2/facts/{}/{}/role_assignments",
	"/v2/facts/{}/{}/role_assignments/bulk",
	"/v2/facts/{}/{}/set_rules",
	"/v2/facts/{}/{}/tenants",
	"/v2/facts/{}/{}/tenants/{}",
	"/v2/facts/{}/{}/tenants/{}/users",
	"/v2/facts/{}/{}/tenants/{}/users/{}",
	"/v2/facts/{}/{}/users",
	"/v2/facts/{}/{}/users/{}",
	"/v2/facts/{}/{}/users/{}/roles",
	"/v2/members",
	"/v2/members/me",
	"/v2/members/{}",
	"/v2/opal/data/config",
	"/v2/orgs",
	"/v2/orgs/active/org",
	"/v2/orgs/{}",
	"/v2/orgs/{}/invites",
	"/v2/orgs/{}/invites/{}",
	"/v2/pdps/me/config",
	"/v2/pdps/{}/{}/configs",
	"/v2/pdps/{}/{}/configs/{}/rotate-api-key",
	"/v2/pdps/{}/{}/configs/{}/values",
	"/v2/pdps/{}/{}/decision-logs/{}",
	"/v2/projects",
	"/v2/projects/{}",
	"/v2/projects/{}/envs",
	"/v2/projects/{}/envs/{}",
	"/v2/projects/{}/envs/{}/copy",
	"/v2/projects/{}/envs/{}/stats",
	"/v2/projects/{}/repos",
	"/v2/projects/{}/repos/active",
	"/v2/projects/{}/repos/disable",
	"/v2/projects/{}/repos/{}",
	"/v2/projects/{}/repos/{}/activate",
	"/v2/schema/{}/{}/condition_sets",
	"/v2/schema/{}/{}/condition_sets/{}",
	"/v2/schema/{}/{}/condition_sets/{}/ancestors",
	"/v2/schema/{}/{}/condition_sets/{}/descendants",
	"/v2/schema/{}/{}/condition_sets/{}/possible_parents",
	"/v2/schema/{}/{}/resources",
	"/v2/schema/{}/{}/resources/{}",
	"/v2/schema/{}/{}/resources/{}/action_groups",
	"/v2/schema/{}/{}/resources/{}/action_groups/{}",
	"/v2/schema/{}/{}/resources/{}/actions",
	"/v2/schema/{}/{}/resources/{}/actions/{}",
	"/v2/schema/{}/{}/resources/{}/attributes",
	"/v2/schema/{}/{}/resources/{}/attributes/{}",
	"/v2/schema/{}/{}/resources/{}/relations",
	"/v2/schema/{}/{}/resources/{}/relations/{}",
	"/v2/schema/{}/{}/resources/{}/roles",
	"/v2/schema/{}/{}/resources/{}/roles/{}",
	"/v2/schema/{}/{}/resources/{}/roles/{}/ancestors",
	"/v2/schema/{}/{}/resources/{}/roles/{}/descendants",
	"/v2/schema/{}/{}/resources/{}/roles/{}/implicit_grants",
	"/v2/schema/{}/{}/resources/{}/roles/{}/implicit_grants/conditions",
	"/v2/schema/{}/{}/resources/{}/roles/{}/parents/{}",
	"/v2/schema/{}/{}/resources/{}/roles/{}/permissions",
	"/v2/schema/{}/{}/roles",
	"/v2/schema/{}/{}/roles/{}",
	"/v2/schema/{}/{}/roles/{}/parents/{}",
	"/v2/schema/{}/{}/roles/{}/permissions",
	"/v2/schema/{}/{}/users/attributes",
	"/v2/schema/{}/{}/users/attributes/{}",
	"/v2/{}/{}/get_instructions",
}

// template is path with each {param} as {}.
func template(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		if strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") {
			segs[i] = "{}"
		}
	}
	return strings.Join(segs, "/")
}

// matchTemplate reports whether path fits template t ({} matches one
// non-empty segment).
func matchTemplate(t, path string) bool {
	ts, ps := strings.Split(t, "/"), strings.Split(strings.TrimSuffix(path, "/"), "/")
	if len(ts) != len(ps) {
		return false
	}
	for i := range ts {
		if ts[i] == "{}" && ps[i] != "" || ts[i] == ps[i] {
			continue
		}
		return false
	}
	return true
}

// permitHas returns the template of Permit's API that path fits, if any.
func permitHas(path string) (string, bool) {
	for _, t := range permitPaths {
		if matchTemplate(t, path) {
			return t, true
		}
	}
	return "", false
}
