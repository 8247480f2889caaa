package generation

import (
	"strings"
	"testing"
)

func TestExtractiveAnswers(t *testing.T) {
	policy := []Source{
		{N: 1, DocName: "policy.docx", Text: "第三条 员工出差住宿费用按城市等级实行限额标准，超出部分由个人承担。具体标准如下表所示。"},
		{N: 2, DocName: "policy.docx", Text: "城市等级 | 普通员工（元/晚） | 部门经理（元/晚）\n" +
			"城市等级: 一线城市（北京、上海、广州、深圳）; 普通员工（元/晚）: 550; 部门经理（元/晚）: 700; 总监及以上（元/晚）: 900\n" +
			"城市等级: 二线城市（省会及计划单列市）; 普通员工（元/晚）: 400; 部门经理（元/晚）: 500; 总监及以上（元/晚）: 650"},
		{N: 3, DocName: "policy.docx", Text: "第五条 市内交通费按实际发生额报销，每日上限为一百二十元。使用网约车的，须提供行程单和电子发票。"},
	}
	tests := []struct {
		name     string
		question string
		sources  []Source
		want     []string // substrings the answer must contain
		wantNot  []string
		refused  bool
	}{
		{"table cell", "一线城市部门经理住宿标准是多少", policy, []string{"700", "[2]", "一线城市"}, []string{"550", "900", "二线"}, false},
		{"sentence", "市内交通费每日上限是多少？", policy, []string{"一百二十元", "[3]"}, []string{"[2]"}, false},
		{"unrelated", "公司的年假有几天", policy, []string{RefusalZH}, nil, true},
		{"english refusal", "What is the parental leave policy?", policy, []string{RefusalEN}, nil, true},
		{"no passages", "一线城市部门经理住宿标准", nil, []string{RefusalZH}, nil, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, refused := Extractive{}.Answer(tc.question, tc.sources)
			if refused != tc.refused {
				t.Fatalf("refused = %v, want %v; answer %q", refused, tc.refused, got)
			}
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("answer %q lacks %q", got, w)
				}
			}
			for _, w := range tc.wantNot {
				if strings.Contains(got, w) {
					t.Errorf("answer %q should not contain %q", got, w)
				}
			}
		})
	}
}

func TestCitedSources(t *testing.T) {
	src := []Source{{N: 1}, {N: 2}, {N: 3}, {N: 4}}
	tests := []struct {
		text string
		want []int
	}{
		{"A [2]. B [1][2].", []int{2, 1}},
		{"合并引用 [3, 1]，以及[4]。", []int{3, 1, 4}},
		{"out of range [9] and none", nil},
		{"no citations", nil},
	}
	for _, tc := range tests {
		got := citedSources(tc.text, src)
		var ns []int
		for _, s := range got {
			ns = append(ns, s.N)
		}
		if len(ns) != len(tc.want) {
			t.Fatalf("%q: cited %v, want %v", tc.text, ns, tc.want)
		}
		for i := range ns {
			if ns[i] != tc.want[i] {
				t.Fatalf("%q: cited %v, want %v", tc.text, ns, tc.want)
			}
		}
	}
}

func TestBuildPromptPacksToBudget(t *testing.T) {
	long := strings.Repeat("差旅费用报销规定。", 200) // 1800 CJK tokens
	src := []Source{{N: 1, DocName: "a", Text: "短段落一。"}, {N: 2, DocName: "b", Page: 3, Text: long}, {N: 3, DocName: "c", Text: "短段落三。"}}
	for _, budget := range []int{300, 800, 5000} {
		msgs := BuildPrompt("报销规定是什么", src, nil, budget, nil)
		total := 0
		for _, m := range msgs {
			total += EstimateTokens(m.Content)
		}
		if total > budget {
			t.Errorf("budget %d: prompt has %d tokens", budget, total)
		}
		user := msgs[len(msgs)-1].Content
		if !strings.Contains(user, "[1] 《a》") || !strings.HasSuffix(user, "问题：报销规定是什么") {
			t.Errorf("budget %d: prompt misses the first passage or the question:\n%s", budget, user)
		}
		if budget == 5000 && (!strings.Contains(user, "[3] 《c》") || !strings.Contains(user, "第3页")) {
			t.Errorf("budget 5000 should fit every passage with its page:\n%.300s", user)
		}
	}
	if msgs := BuildPrompt("What is the policy?", src, nil, 5000, nil); !strings.Contains(msgs[0].Content, "Known information") && !strings.Contains(msgs[len(msgs)-1].Content, "Known information") {
		t.Errorf("English question should get the English prompt")
	}
}

func TestDependsOnContext(t *testing.T) {
	for q, want := range map[string]bool{
		"那二线城市呢？":                                            true,
		"它的报销上限是多少":                                          true,
		"一线城市部门经理住宿标准是多少":                                    false,
		"What about managers?":                               true,
		"How many days of annual leave do new employees get": false,
	} {
		if got := dependsOnContext(q); got != want {
			t.Errorf("dependsOnContext(%q) = %v, want %v", q, got, want)
		}
	}
}
