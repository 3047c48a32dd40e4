package auth

import "testing"

func TestReach(t *testing.T) {
	org := &Principal{Level: LevelOrganization, OrgID: "o"}
	proj := &Principal{Level: LevelProject, OrgID: "o", ProjectID: "p1"}
	env := &Principal{Level: LevelEnvironment, OrgID: "o", ProjectID: "p1", EnvironmentID: "e1"}
	tests := []struct {
		name string
		got  bool
		want bool
	}{
		{"org manages any project", org.CanManageProject("p2"), true},
		{"project manages own", proj.CanManageProject("p1"), true},
		{"project not other", proj.CanManageProject("p2"), false},
		{"env cannot manage project", env.CanManageProject("p1"), false},
		{"env sees own project", env.CanSeeProject("p1"), true},
		{"env not other project", env.CanSeeProject("p2"), false},
		{"project reaches its env", proj.CanReachEnvironment("p1", "e9"), true},
		{"project not other project's env", proj.CanReachEnvironment("p2", "e9"), false},
		{"env reaches itself", env.CanReachEnvironment("p1", "e1"), true},
		{"env not sibling", env.CanReachEnvironment("p1", "e2"), false},
		{"org issues org", org.CanIssue(LevelOrganization, "", ""), true},
		{"project cannot issue org", proj.CanIssue(LevelOrganization, "", ""), false},
		{"project issues own project", proj.CanIssue(LevelProject, "p1", ""), true},
		{"project cannot issue other project", proj.CanIssue(LevelProject, "p2", ""), false},
		{"project issues env in project", proj.CanIssue(LevelEnvironment, "p1", "e5"), true},
		{"env cannot issue project", env.CanIssue(LevelProject, "p1", ""), false},
		{"env issues itself", env.CanIssue(LevelEnvironment, "p1", "e1"), true},
		{"env cannot issue sibling", env.CanIssue(LevelEnvironment, "p1", "e2"), false},
	}
	for _, tc := range tests {
		if tc.got != tc.want {
			t.Errorf("%s: got %v want %v", tc.name, tc.got, tc.want)
		}
	}
}
