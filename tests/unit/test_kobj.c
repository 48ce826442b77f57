/* test_kobj.c - kobj.c: YAML scalars resolved as Kubernetes does, merge
 * keys, aliases copied and counted (an alias bomb stops at the node
 * limit), depth, lines of objects and nodes, kind: List, JSON values one
 * after another, and errors with their lines.
 */
#include "../../helper/kobj.c"

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static char err[256];
static int line;

/* Parses text into a new set; returns the result of kobj_parse. */
static int parse(struct kobj_set **s, const char *text)
{
	assert_int_equal(kobj_set_new(s), 0);
	err[0] = '\0';
	return kobj_parse(*s, 0, text, strlen(text), &line, err, sizeof(err));
}

static const cJSON *field(const struct kobj_set *s, size_t i, const char *name)
{
	return cJSON_GetObjectItemCaseSensitive(kobj_at(s, i)->obj, name);
}

static void test_scalars(void **state)
{
	struct kobj_set *s;

	(void)state;
	assert_int_equal(parse(&s,
			       "apiVersion: v1\nkind: X\n"
			       "a: yes\nb: \"yes\"\nc: off\nd: ~\ne: 0x1F\nf: 010\ng: 1.5\n"
			       "h: 0o17\ni: 1.20\nj: y\nk: ''\nl: -3\nm: 1_000\nn: .inf\n"
			       "o: |\n  text\np: 12abc\nq: !!str 5\nr:\n"),
			 0);
	assert_int_equal(kobj_count(s), 1);
	assert_true(cJSON_IsTrue(field(s, 0, "a")));
	assert_string_equal(field(s, 0, "b")->valuestring, "yes");
	assert_true(cJSON_IsFalse(field(s, 0, "c")));
	assert_true(cJSON_IsNull(field(s, 0, "d")));
	assert_int_equal(field(s, 0, "e")->valueint, 31);
	assert_int_equal(field(s, 0, "f")->valueint, 8);
	assert_true(field(s, 0, "g")->valuedouble == 1.5);
	assert_int_equal(field(s, 0, "h")->valueint, 15);
	/* The classic: a version that is a number. */
	assert_true(field(s, 0, "i")->valuedouble == 1.2);
	assert_true(cJSON_IsTrue(field(s, 0, "j")));
	assert_string_equal(field(s, 0, "k")->valuestring, "");
	assert_int_equal(field(s, 0, "l")->valueint, -3);
	assert_int_equal(field(s, 0, "m")->valueint, 1000);
	assert_string_equal(field(s, 0, "n")->valuestring, ".inf");
	assert_string_equal(field(s, 0, "o")->valuestring, "text\n");
	assert_string_equal(field(s, 0, "p")->valuestring, "12abc");
	assert_string_equal(field(s, 0, "q")->valuestring, "5");
	assert_true(cJSON_IsNull(field(s, 0, "r")));
	kobj_set_free(s);
}

static void test_documents_and_lines(void **state)
{
	struct kobj_set *s;
	const cJSON *spec;

	(void)state;
	assert_int_equal(parse(&s,
			       "# comment only\n---\n---\napiVersion: v1\nkind: Pod\n"
			       "spec:\n  containers:\n    - name: a\n      image: b\n"
			       "---\napiVersion: v1\nkind: List\nitems:\n"
			       "- apiVersion: v1\n  kind: Service\n"
			       "- apiVersion: v1\n  kind: ConfigMap\n"),
			 0);
	assert_int_equal(kobj_count(s), 3);
	assert_int_equal(kobj_at(s, 0)->line, 4);
	assert_string_equal(cJSON_GetObjectItem(kobj_at(s, 1)->obj, "kind")->valuestring,
			    "Service");
	assert_int_equal(kobj_at(s, 1)->line, 14);
	assert_int_equal(kobj_at(s, 2)->line, 16);
	assert_null(kobj_at(s, 3));
	/* A member's line is its key's; an item's its own. */
	spec = field(s, 0, "spec");
	assert_int_equal(kobj_line(s, spec), 6);
	assert_int_equal(kobj_line(s, cJSON_GetObjectItem(spec, "containers")), 7);
	assert_int_equal(kobj_line(s,
				   cJSON_GetArrayItem(cJSON_GetObjectItem(spec, "containers"), 0)),
			 8);
	assert_int_equal(kobj_line(s, NULL), 0);
	kobj_set_free(s);
}

static void test_merge_and_aliases(void **state)
{
	struct kobj_set *s;
	const cJSON *list;

	(void)state;
	assert_int_equal(parse(&s,
			       "base: &b {x: 1, y: 2}\napiVersion: v1\nkind: X\n"
			       "<<: *b\ny: 3\nlist: [*b, *b]\n"),
			 0);
	assert_int_equal(field(s, 0, "x")->valueint, 1);
	/* An explicit key wins over a merged one. */
	assert_int_equal(field(s, 0, "y")->valueint, 3);
	list = field(s, 0, "list");
	assert_int_equal(cJSON_GetArraySize(list), 2);
	assert_int_equal(cJSON_GetObjectItem(cJSON_GetArrayItem(list, 1), "y")->valueint, 2);
	/* A copy is its own node, with no line of its own. */
	assert_ptr_not_equal(cJSON_GetArrayItem(list, 0), field(s, 0, "base"));
	kobj_set_free(s);

	/* An alias inside the node it names: no cycle, an error. */
	assert_int_equal(parse(&s, "apiVersion: v1\nkind: X\na: &r [1, *r]\n"), -EINVAL);
	assert_non_null(strstr(err, "unknown anchor"));
	assert_int_equal(line, 3);
	kobj_set_free(s);
	assert_int_equal(parse(&s, "apiVersion: v1\nkind: X\n*a : 1\n"), -EINVAL);
	kobj_set_free(s);
	assert_int_equal(parse(&s, "apiVersion: v1\nkind: X\n<<: 5\n"), -EINVAL);
	assert_non_null(strstr(err, "merge key"));
	kobj_set_free(s);
}

/* Nine levels of ten aliases each: 10^9 nodes if expanded. */
static void test_alias_bomb(void **state)
{
	char text[2048];
	size_t n = 0;
	struct kobj_set *s;

	(void)state;
	n += (size_t)snprintf(text + n, sizeof(text) - n,
			      "apiVersion: v1\nkind: X\na: &a [1,2,3,4,5,6,7,8,9,10]\n");
	for (char c = 'b'; c <= 'j'; c++) {
		n += (size_t)snprintf(text + n, sizeof(text) - n, "%c: &%c [", c, c);
		for (int i = 0; i < 10; i++)
			n += (size_t)snprintf(text + n, sizeof(text) - n, "%s*%c", i ? "," : "",
					      c - 1);
		n += (size_t)snprintf(text + n, sizeof(text) - n, "]\n");
	}
	assert_int_equal(parse(&s, text), -EINVAL);
	assert_non_null(strstr(err, "nodes"));
	assert_true(s->nodes <= KOBJ_NODES_MAX);
	kobj_set_free(s);
}

static void test_depth(void **state)
{
	char text[512];
	struct kobj_set *s;
	int n;

	(void)state;
	n = snprintf(text, sizeof(text), "apiVersion: v1\nkind: X\na: ");
	for (int i = 0; i < KOBJ_DEPTH_MAX + 1; i++)
		text[n++] = '[';
	text[n] = '\0';
	assert_int_equal(parse(&s, text), -EINVAL);
	assert_non_null(strstr(err, "deeper"));
	kobj_set_free(s);
	/* An alias that would go deeper through its copy. */
	n = snprintf(text, sizeof(text), "apiVersion: v1\nkind: X\nd: &d ");
	for (int i = 0; i < 40; i++)
		text[n++] = '[';
	for (int i = 0; i < 40; i++)
		text[n++] = ']';
	n += snprintf(text + n, sizeof(text) - (size_t)n, "\ne: ");
	for (int i = 0; i < 30; i++)
		text[n++] = '[';
	n += snprintf(text + n, sizeof(text) - (size_t)n, "*d");
	for (int i = 0; i < 30; i++)
		text[n++] = ']';
	text[n] = '\0';
	assert_int_equal(parse(&s, text), -EINVAL);
	assert_non_null(strstr(err, "deeper"));
	kobj_set_free(s);
}

static void test_errors(void **state)
{
	const struct {
		const char *text, *why;
		int line;
	} bad[] = {
		{ "apiVersion: v1\nkind: Pod\nspec: [\n", "not valid YAML", 3 },
		{ "apiVersion: v1\nkind: Pod\n---\n- a\n", "not a Kubernetes object", 4 },
		{ "kind: Pod\n", "not a Kubernetes object", 1 },
		{ "apiVersion: v1\nkind: 5\n", "not a Kubernetes object", 1 },
		{ "apiVersion: v1\nkind: X\n? [a]\n: b\n", "not a scalar", 3 },
		{ "{\"apiVersion\":\"v1\",\n\"kind\":\"Pod\",}", "not valid JSON", 2 },
		{ "{\"apiVersion\":\"v1\",\"kind\":\"Pod\"}\n[1]\n", "not a Kubernetes object", 2 },
		{ "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":[{\"kind\":\"Pod\"}]}",
		  "not a Kubernetes object", 1 },
	};
	struct kobj_set *s;

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (parse(&s, bad[i].text) != -EINVAL)
			fail_msg("accepted: %s", bad[i].text);
		if (!strstr(err, bad[i].why) || line != bad[i].line)
			fail_msg("%s: \"%s\" at %d, wanted \"%s\" at %d", bad[i].text, err, line,
				 bad[i].why, bad[i].line);
		kobj_set_free(s);
	}
	/* A NUL inside the input: YAML refuses it. */
	assert_int_equal(kobj_set_new(&s), 0);
	assert_int_equal(kobj_parse(s, 0, "apiVersion: v1\nkind: X\na: b\0c\n", 30, &line, err,
				    sizeof(err)),
			 -EINVAL);
	kobj_set_free(s);
}

static void test_json(void **state)
{
	struct kobj_set *s;

	(void)state;
	/* With a BOM; two values; a List; nothing after the last. */
	assert_int_equal(parse(&s,
			       "\xef\xbb\xbf {\"apiVersion\":\"v1\",\"kind\":\"Pod\"}\n"
			       "{\"apiVersion\":\"v1\",\"kind\":\"List\",\"items\":["
			       "{\"apiVersion\":\"v1\",\"kind\":\"Service\"}]}\n  \n"),
			 0);
	assert_int_equal(kobj_count(s), 2);
	assert_int_equal(kobj_at(s, 1)->line, 2);
	assert_int_equal(kobj_line(s, kobj_at(s, 0)->obj), 0);
	kobj_set_free(s);
	assert_int_equal(parse(&s, "   \n"), 0);
	assert_int_equal(kobj_count(s), 0);
	kobj_set_free(s);
	kobj_set_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_scalars),
		cmocka_unit_test(test_documents_and_lines),
		cmocka_unit_test(test_merge_and_aliases),
		cmocka_unit_test(test_alias_bomb),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_errors),
		cmocka_unit_test(test_json),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
