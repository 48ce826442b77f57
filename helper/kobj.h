/* kobj.h - Kubernetes objects as users have them: multi-document YAML
 * (libyaml's event API, YAML 1.1 scalars resolved as Kubernetes' own
 * decoder does), JSON (one value or several, as `kubectl get -o json`
 * prints), `kind: List` unwrapped; each object a cJSON tree with the file
 * and line it starts at, and the line of each node from YAML. Pure: bytes
 * in, trees out, every limit in limits.h (input size, depth, nodes, with
 * each alias counted as the copy it makes).
 */
#ifndef LASTCALL_KOBJ_H
#define LASTCALL_KOBJ_H

#include <stddef.h>

#include <cJSON.h>

struct kobj_set;

/* One object: apiVersion and kind are strings (checked). */
struct kobj {
	const cJSON *obj; /* owned by the set */
	int file;	  /* the caller's index of the input */
	int line;	  /* where it starts, 1-based */
};

int kobj_set_new(struct kobj_set **ret);
/* Accepts NULL. */
void kobj_set_free(struct kobj_set *s);

/*
 * Reads one input of len bytes (YAML, or JSON when it starts with '{' or
 * '['; need not be NUL-terminated) into the set, its objects tagged with
 * file. Empty documents are skipped. Returns 0, or -EINVAL (not YAML/JSON,
 * a document that is not a Kubernetes object, a limit passed) or -ENOMEM,
 * with the 1-based line in *ret_line (0 when none applies) and a one-line
 * reason in err. The objects read before the error stay in the set.
 */
int kobj_parse(struct kobj_set *s, int file, const char *buf, size_t len, int *ret_line, char *err,
	       size_t errlen);

size_t kobj_count(const struct kobj_set *s);
const struct kobj *kobj_at(const struct kobj_set *s, size_t i);

/* The 1-based line of a node read from YAML (for a mapping's member, the
 * line of its key), or 0 when unknown (JSON, a copy made by an alias).
 * Lines as YAML counts them: a CR alone, NEL, LS and PS end one too. */
int kobj_line(struct kobj_set *s, const cJSON *node);

#endif
