/* kobj.c - see kobj.h.
 *
 * YAML goes through libyaml's event API into cJSON, one node per event:
 * libyaml does the syntax, this file only the tree, the scalars' types and
 * the limits. Scalars resolve as Kubernetes' decoder (sigs.k8s.io/yaml, on
 * go-yaml v2) does for untyped values: quoted and block scalars are
 * strings; plain ones are null (~, null, empty), YAML 1.1 booleans (true,
 * yes, on, y and their opposites, three spellings each), integers (0x, 0o,
 * a leading 0 is octal), floats (.inf, .nan), else strings. An alias
 * copies the finished node it names, and the copy counts against the node
 * limit: a "billion laughs" input ends with an error at KOBJ_NODES_MAX, long
 * before memory does. Merge keys (<<) are honoured.
 */
#include "kobj.h"

#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "limits.h"

struct node_line {
	const cJSON *node;
	int line;
};

struct kobj_set {
	cJSON *roots[KOBJ_OBJECTS_MAX]; /* the documents, owned */
	size_t n_roots;
	struct kobj objs[KOBJ_OBJECTS_MAX];
	size_t n_objs;
	size_t nodes; /* in all inputs */
	/* Nodes taken out of a tree (a key given twice, a merge key's value):
	 * kept, as an anchor may name them and the line table holds them. */
	cJSON *spare;
	struct node_line *lines;
	size_t n_lines, cap_lines; /* cap_lines doubles up to KOBJ_NODES_MAX */
	bool sorted;
};

int kobj_set_new(struct kobj_set **ret)
{
	struct kobj_set *s = calloc(1, sizeof(*s));

	if (!s)
		return -ENOMEM;
	*ret = s;
	return 0;
}

void kobj_set_free(struct kobj_set *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_roots; i++)
		cJSON_Delete(s->roots[i]);
	cJSON_Delete(s->spare);
	free(s->lines);
	free(s);
}

size_t kobj_count(const struct kobj_set *s)
{
	return s->n_objs;
}

const struct kobj *kobj_at(const struct kobj_set *s, size_t i)
{
	return i < s->n_objs ? &s->objs[i] : NULL;
}

static int by_node(const void *a, const void *b)
{
	const cJSON *x = ((const struct node_line *)a)->node;
	const cJSON *y = ((const struct node_line *)b)->node;

	return x < y ? -1 : x > y;
}

int kobj_line(struct kobj_set *s, const cJSON *node)
{
	struct node_line key = { .node = node }, *hit;

	if (!node || !s->n_lines)
		return 0;
	if (!s->sorted) {
		qsort(s->lines, s->n_lines, sizeof(*s->lines), by_node);
		s->sorted = true;
	}
	hit = bsearch(&key, s->lines, s->n_lines, sizeof(*s->lines), by_node);
	return hit ? hit->line : 0;
}

/* ---- the objects of a document ---- */

static const char *str_of(const cJSON *o, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* Takes one object of root (at line) into the set. */
static int add_object(struct kobj_set *s, int file, const cJSON *o, int line, char *err,
		      size_t errlen)
{
	if (!cJSON_IsObject(o) || !str_of(o, "apiVersion") || !str_of(o, "kind")) {
		snprintf(err, errlen,
			 "not a Kubernetes object (a mapping with apiVersion and kind)");
		return -EINVAL;
	}
	if (s->n_objs == KOBJ_OBJECTS_MAX) {
		snprintf(err, errlen, "more than %d objects", KOBJ_OBJECTS_MAX);
		return -EINVAL;
	}
	s->objs[s->n_objs++] = (struct kobj){ .obj = o, .file = file, .line = line };
	return 0;
}

/*
 * Takes a document's root (owned from now on): nothing when empty, each
 * item of a List, else the object itself. line_of gives an item's line.
 * *ret_line is the line of what was wrong.
 */
static int add_root(struct kobj_set *s, int file, cJSON *root, int line,
		    int (*line_of)(struct kobj_set *, const cJSON *, int), int *ret_line, char *err,
		    size_t errlen)
{
	const char *kind;
	const cJSON *items, *it;

	if (!root || cJSON_IsNull(root))
		goto empty;
	if (s->n_roots == KOBJ_OBJECTS_MAX) {
		cJSON_Delete(root);
		snprintf(err, errlen, "more than %d documents", KOBJ_OBJECTS_MAX);
		*ret_line = line;
		return -EINVAL;
	}
	s->roots[s->n_roots++] = root;
	kind = str_of(root, "kind");
	items = cJSON_GetObjectItemCaseSensitive(root, "items");
	/* `kubectl get -o yaml` of several objects: a List (or FooList). */
	if (kind && strlen(kind) >= 4 && strcmp(kind + strlen(kind) - 4, "List") == 0 &&
	    cJSON_IsArray(items)) {
		cJSON_ArrayForEach(it, items)
		{
			*ret_line = line_of(s, it, line);
			if (add_object(s, file, it, *ret_line, err, errlen) < 0)
				return -EINVAL;
		}
		return 0;
	}
	*ret_line = line;
	return add_object(s, file, root, line, err, errlen);
empty:
	cJSON_Delete(root);
	return 0;
}

/* ---- JSON ---- */

static int count_nodes(const cJSON *n, int depth, size_t *count)
{
	const cJSON *c;

	if (depth > KOBJ_DEPTH_MAX)
		return -E2BIG;
	(*count)++;
	cJSON_ArrayForEach(c, n)
	{
		if (count_nodes(c, depth + 1, count) < 0)
			return -E2BIG;
	}
	return 0;
}

static int line_at(const char *buf, const char *at)
{
	int line = 1;

	for (const char *p = buf; p < at; p++)
		line += *p == '\n';
	return line;
}

static int json_line_of(struct kobj_set *s, const cJSON *node, int line)
{
	(void)s;
	(void)node;
	return line;
}

/* JSON values one after the other, from off on. */
static int parse_json(struct kobj_set *s, int file, const char *buf, size_t len, size_t off,
		      int *ret_line, char *err, size_t errlen)
{
	while (off < len) {
		const char *end = NULL;
		size_t nodes = 0;
		cJSON *root;
		int line;

		while (off < len && strchr(" \t\r\n", buf[off]) && buf[off])
			off++;
		if (off == len)
			break;
		line = line_at(buf, buf + off);
		root = cJSON_ParseWithLengthOpts(buf + off, len - off, &end, false);
		if (!root) {
			/* end points at what could not be parsed. */
			*ret_line = line_at(buf, end && end >= buf + off ? end : buf + off);
			snprintf(err, errlen, "not valid JSON");
			return -EINVAL;
		}
		if (count_nodes(root, 1, &nodes) < 0 || s->nodes + nodes > KOBJ_NODES_MAX) {
			cJSON_Delete(root);
			*ret_line = line;
			snprintf(err, errlen, "deeper than %d or more than %d nodes",
				 KOBJ_DEPTH_MAX, KOBJ_NODES_MAX);
			return -EINVAL;
		}
		s->nodes += nodes;
		if (add_root(s, file, root, line, json_line_of, ret_line, err, errlen) < 0)
			return -EINVAL;
		off = (size_t)(end - buf);
	}
	return 0;
}

/* ---- YAML ---- */

struct frame {
	cJSON *node;	 /* a sequence or a mapping being built */
	char *anchor;	 /* its anchor, registered once it is complete */
	char *key;	 /* mapping: the key waiting for its value, or NULL */
	int key_line;	 /* ...and its line */
	bool merge;	 /* ...which is "<<" */
	size_t nodes_at; /* s->nodes when it began */
	int depth_below; /* levels under it so far */
	int line;	 /* where it began */
};

struct anchor {
	char *name;
	const cJSON *node; /* in the document being built */
	size_t nodes;	   /* its size: what a copy costs */
	int depth;	   /* its height */
};

struct builder {
	struct kobj_set *s;
	struct frame stack[KOBJ_DEPTH_MAX];
	int depth;
	cJSON *root;
	int root_line;
	struct anchor anchors[KOBJ_ANCHORS_MAX];
	size_t n_anchors;
	char *err;
	size_t errlen;
};

/* The node's line, for kobj_line. */
static int note_line(struct builder *b, const cJSON *node, int line)
{
	struct kobj_set *s = b->s;

	/* At most one line per node counted, and nodes are capped: the
	 * table grows with the input, never past the cap. */
	if (s->n_lines == s->cap_lines && s->cap_lines < KOBJ_NODES_MAX) {
		size_t cap = s->cap_lines ? s->cap_lines * 2 : 4096;
		struct node_line *more;

		if (cap > KOBJ_NODES_MAX)
			cap = KOBJ_NODES_MAX;
		more = realloc(s->lines, sizeof(*s->lines) * cap);
		if (!more)
			return -ENOMEM;
		s->lines = more;
		s->cap_lines = cap;
	}
	if (s->n_lines < s->cap_lines) {
		s->lines[s->n_lines++] = (struct node_line){ node, line };
		s->sorted = false;
	}
	return 0;
}

static int count(struct builder *b, size_t n)
{
	if (b->s->nodes + n > KOBJ_NODES_MAX) {
		snprintf(b->err, b->errlen, "more than %d nodes (aliases count each copy)",
			 KOBJ_NODES_MAX);
		return -E2BIG;
	}
	b->s->nodes += n;
	return 0;
}

static void anchors_clear(struct builder *b)
{
	for (size_t i = 0; i < b->n_anchors; i++)
		free(b->anchors[i].name);
	b->n_anchors = 0;
}

static int anchor_add(struct builder *b, const char *name, const cJSON *node, size_t nodes,
		      int depth)
{
	char *copy;

	if (b->n_anchors == KOBJ_ANCHORS_MAX) {
		snprintf(b->err, b->errlen, "more than %d anchors", KOBJ_ANCHORS_MAX);
		return -E2BIG;
	}
	copy = strdup(name);
	if (!copy)
		return -ENOMEM;
	b->anchors[b->n_anchors++] = (struct anchor){ copy, node, nodes, depth };
	return 0;
}

/* The last definition wins, as in YAML. */
static const struct anchor *anchor_find(const struct builder *b, const char *name)
{
	for (size_t i = b->n_anchors; i-- > 0;) {
		if (strcmp(b->anchors[i].name, name) == 0)
			return &b->anchors[i];
	}
	return NULL;
}

/* The levels above each open frame grow by height + 1. */
static void note_height(struct builder *b, int height)
{
	for (int i = b->depth - 1, h = height + 1; i >= 0; i--, h++) {
		if (b->stack[i].depth_below < h)
			b->stack[i].depth_below = h;
	}
}

/* A merge key's value: its members that the mapping lacks are added. */
static int merge_into(struct builder *b, cJSON *map, const cJSON *from)
{
	const cJSON *c;

	if (cJSON_IsArray(from)) {
		cJSON_ArrayForEach(c, from)
		{
			if (merge_into(b, map, c) < 0)
				return -EINVAL;
		}
		return 0;
	}
	if (!cJSON_IsObject(from)) {
		snprintf(b->err, b->errlen, "a merge key (<<) whose value is not a mapping");
		return -EINVAL;
	}
	cJSON_ArrayForEach(c, from)
	{
		cJSON *copy;
		size_t n = 0;

		if (cJSON_GetObjectItemCaseSensitive(map, c->string))
			continue;
		count_nodes(c, 1, &n);
		if (count(b, n) < 0)
			return -E2BIG;
		copy = cJSON_Duplicate(c, true);
		if (!copy)
			return -ENOMEM;
		cJSON_AddItemToObject(map, c->string, copy);
	}
	return 0;
}

/* Keeps a node out of the tree alive until the set goes. */
static int discard(struct builder *b, cJSON *node)
{
	struct kobj_set *s = b->s;

	if (!s->spare && !(s->spare = cJSON_CreateArray())) {
		cJSON_Delete(node);
		return -ENOMEM;
	}
	cJSON_AddItemToArray(s->spare, node);
	return 0;
}

/* Puts a finished node where it belongs: the document, a sequence, or a
 * mapping's pending key (the last one of a key wins). */
static int attach(struct builder *b, cJSON *node, int line)
{
	struct frame *f;

	if (b->depth == 0) {
		b->root = node;
		b->root_line = line;
		return note_line(b, node, line);
	}
	f = &b->stack[b->depth - 1];
	if (cJSON_IsArray(f->node)) {
		cJSON_AddItemToArray(f->node, node);
		return note_line(b, node, line);
	}
	if (f->merge) {
		int r = merge_into(b, f->node, node);
		free(f->key);
		f->key = NULL;
		f->merge = false;
		if (discard(b, node) < 0)
			return -ENOMEM;
		return r;
	}
	/* A key given again: the last one wins, as in Kubernetes. */
	cJSON *old = cJSON_DetachItemFromObjectCaseSensitive(f->node, f->key);
	if (old && discard(b, old) < 0) {
		cJSON_Delete(node);
		return -ENOMEM;
	}
	cJSON_AddItemToObject(f->node, f->key, node);
	free(f->key);
	f->key = NULL;
	return note_line(b, node, f->key_line);
}

/* The pending key of the innermost mapping, if it waits for one. */
static bool wants_key(const struct builder *b)
{
	const struct frame *f = b->depth ? &b->stack[b->depth - 1] : NULL;

	return f && cJSON_IsObject(f->node) && !f->key && !f->merge;
}

static bool is_one_of(const char *v, const char *const *list)
{
	for (; *list; list++) {
		if (strcmp(v, *list) == 0)
			return true;
	}
	return false;
}

/* An integer as YAML 1.1 writes it (with go-yaml's 0o): decimal, 0x, 0o
 * or 0-led octal, 0b; an optional sign; underscores between digits. */
static bool yaml_int(const char *v, double *ret)
{
	const char *p = v;
	bool neg = false;
	int base = 10, digits = 0;
	double x = 0;

	if (*p == '+' || *p == '-')
		neg = *p++ == '-';
	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X'))
		base = 16, p += 2;
	else if (p[0] == '0' && (p[1] == 'o' || p[1] == 'O'))
		base = 8, p += 2;
	else if (p[0] == '0' && (p[1] == 'b' || p[1] == 'B'))
		base = 2, p += 2;
	else if (p[0] == '0' && p[1])
		base = 8, p++;
	for (; *p; p++) {
		int d;

		if (*p == '_' && digits)
			continue;
		if (*p >= '0' && *p <= '9')
			d = *p - '0';
		else if (*p >= 'a' && *p <= 'f')
			d = *p - 'a' + 10;
		else if (*p >= 'A' && *p <= 'F')
			d = *p - 'A' + 10;
		else
			return false;
		if (d >= base)
			return false;
		x = x * base + d;
		digits++;
	}
	if (!digits)
		return false;
	*ret = neg ? -x : x;
	return true;
}

static bool yaml_float(const char *v, double *ret)
{
	static const char *const inf[] = { ".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF", NULL };
	static const char *const ninf[] = { "-.inf", "-.Inf", "-.INF", NULL };
	static const char *const nan_[] = { ".nan", ".NaN", ".NAN", NULL };
	bool digit = false;
	char *end;

	if (is_one_of(v, inf) || is_one_of(v, ninf) || is_one_of(v, nan_)) {
		/* JSON has none of them: Kubernetes would refuse it anyway;
		 * kept as text. */
		return false;
	}
	for (const char *p = v; *p; p++) {
		if (*p >= '0' && *p <= '9')
			digit = true;
		else if (!strchr("+-.eE", *p))
			return false;
	}
	if (!digit)
		return false;
	*ret = strtod(v, &end);
	return *end == '\0' && isfinite(*ret);
}

/* A scalar's node: plain ones resolved (see the top), others strings. */
static cJSON *scalar_node(const yaml_event_t *e)
{
	static const char *const nulls[] = { "", "~", "null", "Null", "NULL", NULL };
	static const char *const yes[] = { "y",	   "Y",	   "yes", "Yes", "YES", "true",
					   "True", "TRUE", "on",  "On",	 "ON",	NULL };
	static const char *const no[] = { "n",	   "N",	    "no",  "No",  "NO",	 "false",
					  "False", "FALSE", "off", "Off", "OFF", NULL };
	const char *v = (const char *)e->data.scalar.value;
	const char *tag = (const char *)e->data.scalar.tag;
	double x;

	if (e->data.scalar.style != YAML_PLAIN_SCALAR_STYLE ||
	    (tag && strcmp(tag, YAML_STR_TAG) == 0))
		return cJSON_CreateString(v);
	if (is_one_of(v, nulls))
		return cJSON_CreateNull();
	if (is_one_of(v, yes))
		return cJSON_CreateTrue();
	if (is_one_of(v, no))
		return cJSON_CreateFalse();
	if (yaml_int(v, &x) || yaml_float(v, &x))
		return cJSON_CreateNumber(x);
	return cJSON_CreateString(v);
}

static int on_scalar(struct builder *b, const yaml_event_t *e, int line)
{
	const char *v = (const char *)e->data.scalar.value;
	cJSON *node;
	int r;

	if (memchr(v, '\0', e->data.scalar.length)) {
		snprintf(b->err, b->errlen, "a NUL byte in a scalar");
		return -EINVAL;
	}
	if ((r = count(b, 1)) < 0)
		return r;
	if (wants_key(b)) {
		struct frame *f = &b->stack[b->depth - 1];

		f->key = strdup(v);
		if (!f->key)
			return -ENOMEM;
		f->key_line = line;
		f->merge = e->data.scalar.style == YAML_PLAIN_SCALAR_STYLE && strcmp(v, "<<") == 0;
		if (e->data.scalar.anchor) {
			snprintf(b->err, b->errlen, "an anchor on a mapping key");
			return -EINVAL;
		}
		return 0;
	}
	node = scalar_node(e);
	if (!node)
		return -ENOMEM;
	if (e->data.scalar.anchor &&
	    (r = anchor_add(b, (const char *)e->data.scalar.anchor, node, 1, 0)) < 0) {
		cJSON_Delete(node);
		return r;
	}
	note_height(b, 0);
	return attach(b, node, line);
}

static int on_alias(struct builder *b, const yaml_event_t *e, int line)
{
	const struct anchor *a = anchor_find(b, (const char *)e->data.alias.anchor);
	cJSON *copy;
	int r;

	if (!a) {
		/* Also an alias inside the node it names: anchors are taken
		 * only once complete, so no alias can make a cycle. */
		snprintf(b->err, b->errlen, "an alias to an unknown anchor \"%.64s\"",
			 (const char *)e->data.alias.anchor);
		return -EINVAL;
	}
	if (wants_key(b)) {
		snprintf(b->err, b->errlen, "an alias as a mapping key");
		return -EINVAL;
	}
	if (b->depth + a->depth >= KOBJ_DEPTH_MAX) {
		snprintf(b->err, b->errlen, "nested deeper than %d", KOBJ_DEPTH_MAX);
		return -E2BIG;
	}
	if ((r = count(b, a->nodes)) < 0)
		return r;
	copy = cJSON_Duplicate(a->node, true);
	if (!copy)
		return -ENOMEM;
	note_height(b, a->depth);
	return attach(b, copy, line);
}

static int on_start(struct builder *b, const yaml_event_t *e, int line, bool mapping)
{
	const yaml_char_t *anchor = mapping ? e->data.mapping_start.anchor
					    : e->data.sequence_start.anchor;
	struct frame *f;
	int r;

	if (wants_key(b)) {
		snprintf(b->err, b->errlen, "a mapping key that is not a scalar");
		return -EINVAL;
	}
	if (b->depth == KOBJ_DEPTH_MAX) {
		snprintf(b->err, b->errlen, "nested deeper than %d", KOBJ_DEPTH_MAX);
		return -E2BIG;
	}
	if ((r = count(b, 1)) < 0)
		return r;
	f = &b->stack[b->depth];
	memset(f, 0, sizeof(*f));
	f->node = mapping ? cJSON_CreateObject() : cJSON_CreateArray();
	if (!f->node)
		return -ENOMEM;
	if (anchor && !(f->anchor = strdup((const char *)anchor))) {
		cJSON_Delete(f->node);
		return -ENOMEM;
	}
	f->nodes_at = b->s->nodes - 1;
	f->line = line;
	b->depth++;
	return 0;
}

static int on_end(struct builder *b)
{
	struct frame *f = &b->stack[--b->depth];
	cJSON *node = f->node;
	int r = 0;

	if (f->anchor)
		r = anchor_add(b, f->anchor, node, b->s->nodes - f->nodes_at, f->depth_below);
	free(f->anchor);
	free(f->key);
	if (r < 0) {
		cJSON_Delete(node);
		return r;
	}
	note_height(b, f->depth_below);
	return attach(b, node, f->line);
}

/* Drops what a failed document left half-built. */
static void builder_reset(struct builder *b)
{
	while (b->depth > 0) {
		struct frame *f = &b->stack[--b->depth];
		cJSON_Delete(f->node);
		free(f->anchor);
		free(f->key);
	}
	cJSON_Delete(b->root);
	b->root = NULL;
	anchors_clear(b);
}

static int yaml_line_of(struct kobj_set *s, const cJSON *node, int line)
{
	int l = kobj_line(s, node);

	return l ? l : line;
}

static int parse_yaml(struct kobj_set *s, int file, const char *buf, size_t len, int *ret_line,
		      char *err, size_t errlen)
{
	struct builder *b = calloc(1, sizeof(*b));
	yaml_parser_t parser;
	bool done = false;
	int r = 0;

	if (!b) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	b->s = s;
	b->err = err;
	b->errlen = errlen;
	if (!yaml_parser_initialize(&parser)) {
		free(b);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	yaml_parser_set_input_string(&parser, (const unsigned char *)buf, len);
	while (!done && r == 0) {
		yaml_event_t e;
		int line;

		if (!yaml_parser_parse(&parser, &e)) {
			*ret_line = (int)parser.problem_mark.line + 1;
			snprintf(err, errlen, "not valid YAML: %s%s%s",
				 parser.problem ? parser.problem : "error",
				 parser.context ? " " : "", parser.context ? parser.context : "");
			r = parser.error == YAML_MEMORY_ERROR ? -ENOMEM : -EINVAL;
			break;
		}
		line = (int)e.start_mark.line + 1;
		*ret_line = line;
		switch (e.type) {
		case YAML_SCALAR_EVENT:
			r = on_scalar(b, &e, line);
			break;
		case YAML_ALIAS_EVENT:
			r = on_alias(b, &e, line);
			break;
		case YAML_SEQUENCE_START_EVENT:
			r = on_start(b, &e, line, false);
			break;
		case YAML_MAPPING_START_EVENT:
			r = on_start(b, &e, line, true);
			break;
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			r = on_end(b);
			break;
		case YAML_DOCUMENT_END_EVENT: {
			cJSON *root = b->root;

			b->root = NULL;
			anchors_clear(b);
			r = add_root(s, file, root, b->root_line, yaml_line_of, ret_line, err,
				     errlen);
			break;
		}
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		default:
			break;
		}
		yaml_event_delete(&e);
	}
	if (r == -ENOMEM)
		snprintf(err, errlen, "out of memory");
	builder_reset(b);
	yaml_parser_delete(&parser);
	free(b);
	return r < 0 ? (r == -ENOMEM ? -ENOMEM : -EINVAL) : 0;
}

int kobj_parse(struct kobj_set *s, int file, const char *buf, size_t len, int *ret_line, char *err,
	       size_t errlen)
{
	size_t i = 0;
	int r;

	*ret_line = 0;
	if (len > KOBJ_INPUT_MAX) {
		snprintf(err, errlen, "larger than %d MiB", KOBJ_INPUT_MAX / (1024 * 1024));
		return -EINVAL;
	}
	/* A UTF-8 byte order mark, then JSON or YAML. */
	if (len >= 3 && memcmp(buf, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	while (i < len && strchr(" \t\r\n", buf[i]) && buf[i])
		i++;
	if (i < len && (buf[i] == '{' || buf[i] == '['))
		r = parse_json(s, file, buf, len, i, ret_line, err, errlen);
	else
		r = parse_yaml(s, file, buf, len, ret_line, err, errlen);
	if (r == 0) {
		*ret_line = 0;
	} else {
		/* libyaml puts the end of a stream without a final newline
		 * on a line of its own: the last line is where it ends. */
		int last = 1;

		for (size_t k = 0; k < len; k++)
			last += buf[k] == '\n' && k + 1 < len;
		if (*ret_line > last)
			*ret_line = last;
	}
	return r;
}
