/* SPDX-License-Identifier: MIT */
#include <getopt.h>
#include <stdio.h>

#include <qkit/qkit.h>

#include "cli.h"
#include "doctor.h"

static int run(int argc, char **argv)
{
	enum { OPT_NO_KVM_PROBE = 256 };
	static const struct option opts[] = {
		{ "no-kvm-probe", no_argument, NULL, OPT_NO_KVM_PROBE },
		{ 0 },
	};
	struct doctor_options o = DOCTOR_OPTIONS_INIT;
	int c;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c != OPT_NO_KVM_PROBE)
			return EXIT_USAGE; /* getopt said what was wrong */
		o.probe_kvm = false;
	}
	if (optind < argc)
		return cli_usage_error("doctor", "unexpected argument '%s'", argv[optind]);

	struct doctor_check *checks = NULL;
	size_t n = 0;
	qk_error *err = NULL;
	if (doctor_run(&o, &checks, &n, &err) < 0)
		return cli_report("doctor", err);
	size_t failed = 0;
	for (size_t i = 0; i < n; i++) {
		printf("%-5s %-20s %s\n", doctor_status_string(checks[i].status), checks[i].name,
		       checks[i].detail);
		if (checks[i].fix && checks[i].status != DOCTOR_OK)
			printf("%-5s %-20s fix: %s\n", "", "", checks[i].fix);
		failed += checks[i].status == DOCTOR_FAIL;
	}
	doctor_checks_free(checks, n);
	if (failed)
		printf("%zu problem(s) to fix.\n", failed);
	return failed ? EXIT_FAIL : EXIT_OK;
}

const struct command cmd_doctor = {
	.name = "doctor",
	.summary = "check this host for what qkit needs, and say how to fix what is missing",
	.usage = "Usage: qkit doctor [--no-kvm-probe]\n"
		 "\n"
		 "Check the QEMU binaries and their versions (7.2 or newer), qemu-img, firmware\n"
		 "descriptors, a static busybox, a bootable kernel and the modules qkit exec\n"
		 "loads from its tree, /dev/kvm, and whether a guest really runs under KVM\n"
		 "(it boots the kernel under KVM for up to 10 s; --no-kvm-probe skips that).\n"
		 "Prints one line per check, and for each problem the command that fixes it.\n"
		 "Exits 1 if anything qkit exec needs is broken.\n",
	.run = run,
};
