package generation

import (
	"fmt"
	"strings"
)

// The grounded prompt follows the convention of Chinese RAG tools: numbered
// known passages, answer concisely in the question's language, cite [n],
// and give a fixed refusal when the passages do not support an answer.
const systemPromptZH = `你是企业内部知识库的问答助手。请严格依据“已知信息”中编号的段落回答用户的问题：
1. 回答简洁、专业，使用与问题相同的语言；
2. 每句话引用所依据的段落编号，格式为 [1]、[2]，可以同时引用多个；
3. 如果已知信息不足以回答问题，只回答“根据已知信息无法回答该问题。”；
4. 不得编造已知信息中没有的内容。`

const systemPromptEN = `You answer questions from a company's internal knowledge base. Use only the numbered passages under "Known information":
1. Answer concisely and professionally, in the language of the question.
2. Cite the passages each sentence relies on as [1], [2]; several may be cited.
3. If the passages do not contain the answer, reply only "` + RefusalEN + `"
4. Never add facts that are not in the passages.`

// BuildPrompt builds the chat messages for a grounded answer: the system
// instructions, up to the last few turns of history, and the numbered
// passages with the question. Passages are packed in rank order until the
// token budget (the model's context minus the answer's budget) is spent; a
// passage that does not fit whole is cut, never dropped silently in the
// middle of the list. count counts tokens (EstimateTokens when nil).
func BuildPrompt(question string, sources []Source, history []Message, budget int, count func(string) int) []Message {
	if count == nil {
		count = EstimateTokens
	}
	zh := hasCJK(question)
	system := systemPromptEN
	header, qLabel := "Known information:\n", "Question: "
	if zh {
		system = systemPromptZH
		header, qLabel = "已知信息：\n", "问题："
	}
	msgs := []Message{{Role: "system", Content: system}}
	// Keep at most the last two exchanges of history: enough for follow-ups.
	if len(history) > 4 {
		history = history[len(history)-4:]
	}
	msgs = append(msgs, history...)

	used := count(system) + count(question) + count(header) + 16
	for _, m := range history {
		used += count(m.Content) + 4
	}
	var b strings.Builder
	b.WriteString(header)
	for _, s := range sources {
		label := fmt.Sprintf("[%d] 《%s》", s.N, s.DocName)
		if s.Page > 0 {
			label += fmt.Sprintf(" 第%d页", s.Page)
		}
		if len(s.Headings) > 0 {
			label += " · " + strings.Join(s.Headings, " / ")
		}
		entry := label + "\n" + strings.TrimSpace(s.Text) + "\n\n"
		need := count(entry)
		if used+need > budget {
			left := budget - used - count(label) - 4
			if left < 32 {
				break
			}
			text := truncateToTokens(s.Text, left, count)
			entry = label + "\n" + text + "…\n\n"
			need = count(entry)
		}
		b.WriteString(entry)
		used += need
	}
	b.WriteString(qLabel)
	b.WriteString(question)
	msgs = append(msgs, Message{Role: "user", Content: b.String()})
	return msgs
}

// truncateToTokens returns the longest rune prefix of text within n tokens.
func truncateToTokens(text string, n int, count func(string) int) string {
	r := []rune(text)
	lo, hi := 0, len(r)
	for lo < hi {
		mid := (lo + hi + 1) / 2
		if count(string(r[:mid])) <= n {
			lo = mid
		} else {
			hi = mid - 1
		}
	}
	return string(r[:lo])
}

// RewritePrompt asks a model to turn a follow-up into a standalone question.
func RewritePrompt(history []Message, question string) []Message {
	if len(history) > 4 {
		history = history[len(history)-4:]
	}
	var b strings.Builder
	for _, m := range history {
		role := "用户"
		if m.Role == "assistant" {
			role = "助手"
		}
		b.WriteString(role + "：" + strings.TrimSpace(m.Content) + "\n")
	}
	return []Message{
		{Role: "system", Content: "根据对话历史，把用户最新的问题改写成一个不依赖上下文、可以单独检索的完整问题。保持原来的语言，只输出改写后的问题，不要回答它。"},
		{Role: "user", Content: "对话历史：\n" + b.String() + "\n最新问题：" + question + "\n改写后的问题："},
	}
}
