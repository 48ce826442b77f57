/* test_httpd.c - httpd.c's pure parts: HOST:PORT parsing and the
 * --allow-from list that guards GET /prestop over TCP. */
#include "../../helper/httpd.c"

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

static void test_loopback_always(void **state)
{
	(void)state;
	assert_true(allows(NULL, "127.0.0.1"));
	assert_true(allows(NULL, "127.1.2.3"));
	assert_true(allows(NULL, "::1"));
	assert_true(allows(NULL, "::ffff:127.0.0.1"));
	assert_false(allows(NULL, "10.0.0.1"));
	assert_false(allows(NULL, "128.0.0.1"));
	assert_false(allows(NULL, "::2"));
	assert_false(allows(NULL, "::ffff:10.0.0.1"));
	assert_false(allows(NULL, "fe80::1"));
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

int main(void)
{
	/* clang-format off */
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_loopback_always),
		cmocka_unit_test(test_acl_entries),
		cmocka_unit_test(test_acl_edges),
		cmocka_unit_test(test_acl_bad),
		cmocka_unit_test(test_parse_addr),
	};
	/* clang-format on */

	return cmocka_run_group_tests(tests, NULL, NULL);
}
