/* test_httpd.c - httpd.c's pure parts: HOST:PORT parsing and the
 * --allow-from list that guards GET /prestop over TCP; and where the
 * control socket goes: its path, or the abstract fallback. */
#include "../../helper/httpd.c"

#include <sched.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

static struct sockaddr_storage addr(const char *ip)
{
	struct sockaddr_storage ss;

	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, ip, &((struct sockaddr_in *)&ss)->sin_addr) == 1)
		ss.ss_family = AF_INET;
	else if (inet_pton(AF_INET6, ip, &((struct sockaddr_in6 *)&ss)->sin6_addr) == 1)
		ss.ss_family = AF_INET6;
	else
		fail_msg("bad test address %s", ip);
	return ss;
}

static bool allows(const struct httpd_acl *acl, const char *ip)
{
	struct sockaddr_storage ss = addr(ip);

	return httpd_acl_allows(acl, (struct sockaddr *)&ss);
}

static void test_loopback_only(void **state)
{
	struct httpd_acl acl = { .n = 0 };
	char err[256];

	(void)state;
	assert_true(allows(NULL, "127.0.0.1"));
	assert_true(allows(NULL, "::1"));
	assert_true(allows(NULL, "::ffff:127.0.0.1"));
	/* The rest of 127.0.0.0/8 is not the pod: Istio relays every mesh
	 * client from 127.0.0.6 (istio/istio#29603). */
	assert_false(allows(NULL, "127.0.0.6"));
	assert_false(allows(NULL, "127.1.2.3"));
	assert_false(allows(NULL, "127.0.0.0"));
	assert_false(allows(NULL, "::ffff:127.0.0.6"));
	assert_false(allows(NULL, "10.0.0.1"));
	assert_false(allows(NULL, "128.0.0.1"));
	assert_false(allows(NULL, "::2"));
	assert_false(allows(NULL, "::ffff:10.0.0.1"));
	assert_false(allows(NULL, "fe80::1"));
	/* ...unless --allow-from says so. */
	assert_int_equal(httpd_acl_add(&acl, "127.0.0.6", err, sizeof(err)), 0);
	assert_true(allows(&acl, "127.0.0.6"));
	assert_true(allows(&acl, "::ffff:127.0.0.6"));
	assert_false(allows(&acl, "127.0.0.7"));
	assert_true(allows(&acl, "127.0.0.1"));
}

static void test_acl_entries(void **state)
{
	struct httpd_acl acl = { .n = 0 };
	char err[256];

	(void)state;
	assert_int_equal(httpd_acl_add(&acl, "10.1.2.3", err, sizeof(err)), 0);
	assert_int_equal(httpd_acl_add(&acl, "192.168.0.0/16", err, sizeof(err)), 0);
	assert_int_equal(httpd_acl_add(&acl, "172.16.0.0/13", err, sizeof(err)), 0);
	assert_int_equal(httpd_acl_add(&acl, "fd00::/8", err, sizeof(err)), 0);
	assert_true(allows(&acl, "10.1.2.3"));
	assert_false(allows(&acl, "10.1.2.4"));
	assert_true(allows(&acl, "::ffff:10.1.2.3")); /* v4 on a dual-stack socket */
	assert_true(allows(&acl, "192.168.255.1"));
	assert_false(allows(&acl, "192.169.0.1"));
	assert_true(allows(&acl, "172.23.255.255")); /* /13: 172.16-172.23 */
	assert_false(allows(&acl, "172.24.0.0"));
	assert_true(allows(&acl, "fd12:3456::1"));
	assert_false(allows(&acl, "fe00::1"));
	assert_false(allows(&acl, "11.1.2.3"));
	/* A v4 entry never matches a v6 address with the same bytes. */
	assert_false(allows(&acl, "a01:203::"));
}

static void test_acl_edges(void **state)
{
	struct httpd_acl acl = { .n = 0 };
	char err[256];

	(void)state;
	assert_int_equal(httpd_acl_add(&acl, "0.0.0.0/0", err, sizeof(err)), 0);
	assert_true(allows(&acl, "8.8.8.8"));
	assert_false(allows(&acl, "2001:db8::1"));
	acl.n = 0;
	assert_int_equal(httpd_acl_add(&acl, "2001:db8::1/128", err, sizeof(err)), 0);
	assert_true(allows(&acl, "2001:db8::1"));
	assert_false(allows(&acl, "2001:db8::2"));
}

static void test_acl_bad(void **state)
{
	static const char *const bad[] = {
		"",
		"/8",
		"10.0.0",
		"10.0.0.256",
		"10.0.0.0/33",
		"10.0.0.0/-1",
		"10.0.0.0/",
		"10.0.0.0/8x",
		"fd00::/129",
		"node",
		"10.0.0.1 ",
		" 10.0.0.1",
		"10.0.0.1/8/8",
	};
	struct httpd_acl acl = { .n = 0 };
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		assert_int_equal(httpd_acl_add(&acl, bad[i], err, sizeof(err)), -EINVAL);
		assert_true(strlen(err) > 0);
	}
	assert_int_equal(acl.n, 0);
	for (int i = 0; i < HTTPD_ALLOW_MAX; i++)
		assert_int_equal(httpd_acl_add(&acl, "10.0.0.1", err, sizeof(err)), 0);
	assert_int_equal(httpd_acl_add(&acl, "10.0.0.1", err, sizeof(err)), -ENOSPC);
}

static void test_parse_addr(void **state)
{
	struct sockaddr_storage ss;
	size_t len;

	(void)state;
	assert_int_equal(httpd_parse_addr("127.0.0.1:9797", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(ntohs(((struct sockaddr_in *)&ss)->sin_port), 9797);
	assert_int_equal(httpd_parse_addr(":0", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET);
	assert_int_equal(httpd_parse_addr("[::]:80", &ss, &len), 0);
	assert_int_equal(ss.ss_family, AF_INET6);
	assert_int_equal(len, sizeof(struct sockaddr_in6));
	assert_int_equal(httpd_parse_addr("127.0.0.1", &ss, &len), -EINVAL);
	assert_int_equal(httpd_parse_addr("127.0.0.1:65536", &ss, &len), -EINVAL);
	assert_int_equal(httpd_parse_addr("[::1:80", &ss, &len), -EINVAL);
	assert_int_equal(httpd_parse_addr("host:80", &ss, &len), -EINVAL);
	assert_int_equal(httpd_parse_addr("1.2.3.4:x", &ss, &len), -EINVAL);
}

static bool ops_ready(void *data)
{
	(void)data;
	return true;
}

static size_t ops_text(void *data, char *buf, size_t size)
{
	(void)data;
	return (size_t)snprintf(buf, size, "{}");
}

static void ops_drain(void *data, const char *origin)
{
	(void)data;
	(void)origin;
}

static int ops_phase(void *data)
{
	(void)data;
	return DRAIN_SERVING;
}

static const struct httpd_ops test_ops = {
	.ready = ops_ready,
	.status = ops_text,
	.metrics = ops_text,
	.drain = ops_drain,
	.phase = ops_phase,
};

/* The path when it can be bound: mode 0600, taken only from a dead
 * instance, removed at the end. */
static void test_control_path(void **state)
{
	struct httpd *h = NULL, *h2 = NULL;
	struct loop *l = NULL;
	char path[64], err[256];
	struct stat st;

	(void)state;
	snprintf(path, sizeof(path), "/tmp/lastcall-test-httpd-%d.sock", (int)getpid());
	unlink(path);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(httpd_new(l, NULL, path, NULL, &test_ops, NULL, &h, err, sizeof(err)), 0);
	assert_string_equal(httpd_control_name(h), path);
	assert_int_equal(httpd_control_fallback(h), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(httpd_new(l, NULL, path, NULL, &test_ops, NULL, &h2, err, sizeof(err)),
			 -EADDRINUSE);
	assert_non_null(strstr(err, "another lastcall is listening there"));
	httpd_free(h);
	assert_int_equal(stat(path, &st), -1);
	assert_null(httpd_control_name(NULL));
	loop_free(l);
}

/* A path that cannot be bound (a read-only root filesystem): the abstract
 * name of our mount namespace, reported as a fallback; an error only when
 * another instance in the same mount namespace holds that name. */
static void test_control_fallback(void **state)
{
	struct httpd *h = NULL, *h2 = NULL;
	struct loop *l = NULL;
	char name[108], at[110], err[256];

	(void)state;
	/* A mount namespace of our own, so that the name is ours alone on a
	 * shared machine. */
	if (unshare(CLONE_NEWNS) < 0)
		skip();
	assert_int_equal(client_abstract_name(name, sizeof(name)), 0);
	snprintf(at, sizeof(at), "@%s", name);
	assert_int_equal(loop_new(&l), 0);
	assert_int_equal(httpd_new(l, NULL, "/proc/lastcall-test.sock", NULL, &test_ops, NULL, &h,
				   err, sizeof(err)),
			 0);
	assert_string_equal(httpd_control_name(h), at);
	assert_true(httpd_control_fallback(h) < 0);
	/* A missing directory falls back too; the name is taken: an error. */
	assert_int_equal(httpd_new(l, NULL, "/nonexistent-lastcall/x.sock", NULL, &test_ops, NULL,
				   &h2, err, sizeof(err)),
			 -EADDRINUSE);
	assert_non_null(strstr(err, "another lastcall in this container holds it"));
	assert_non_null(strstr(err, "/nonexistent-lastcall/x.sock"));
	httpd_free(h);
	/* Freed with the instance. */
	assert_int_equal(httpd_new(l, NULL, "/nonexistent-lastcall/x.sock", NULL, &test_ops, NULL,
				   &h2, err, sizeof(err)),
			 0);
	assert_int_equal(httpd_control_fallback(h2), -ENOENT);
	httpd_free(h2);
	loop_free(l);
}

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_only),
		cmocka_unit_test(test_acl_entries),
		cmocka_unit_test(test_acl_edges),
		cmocka_unit_test(test_acl_bad),
		cmocka_unit_test(test_parse_addr),
		cmocka_unit_test(test_control_path),
		cmocka_unit_test(test_control_fallback),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
