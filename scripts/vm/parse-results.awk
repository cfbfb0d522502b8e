# Parses a guest's results channel (ttyS1, see scripts/vm/init) into summary lines:
#   boot <s>        guest uptime when the first step started
#   step <name> kind=<gtest|info> (gtest-any: a gtest step that may match no test) rc=<rc> pass=<n> fail=<n> skip=<n> time=<s>
#   failed <step>: <test>      one per failed test (or step)
#   detail-begin / detail-end  around the gtest log of each failed test
#   verdict PASS|FAIL
# A step fails on a failed test, a test that started and never finished (crash), no test run at
# all (a stale filter), a non-zero exit, or no @@END (the guest died or ran out of time).
function test_name(line,    s) {
	s = line
	sub(/^\[[^]]*\] /, "", s)
	sub(/ \([0-9]+ ms\)$/, "", s)
	sub(/, where GetParam.*$/, "", s)
	return s
}
function fail(what) { failed[++nfailed] = what; bad = 1 }
BEGIN { bad = 0; nfailed = 0; started = 0; done = 0; in_step = 0; boot = "" }
/^@@AITRACE-VM START/ { started = 1; next }
/^@@AITRACE-VM DONE/ { done = 1; next }
/^@@BEGIN / {
	step = $2; kind = $3; sub(/^kind=/, "", kind)
	may_be_empty = kind == "gtest-any"
	if (may_be_empty) kind = "gtest"
	in_step = 1; pass = 0; nfail = 0; skip = 0; running = ""; log_n = 0
	next
}
/^@@END / {
	rc = $3; sub(/^rc=/, "", rc)
	st = $4; sub(/^start=/, "", st); en = $5; sub(/^end=/, "", en)
	if (boot == "" && st != "") boot = st
	if (kind == "gtest") {
		if (running != "") { nfail++; fail(step ": " running " (did not finish: crashed?)"); flush_detail(running) }
		if (pass + nfail + skip == 0 && !may_be_empty) fail(step ": no test ran (rc=" rc ")")
		else if (rc != 0 && nfail == 0) fail(step ": exit code " rc " with no failed test")
		printf "step %s kind=gtest rc=%s pass=%d fail=%d skip=%d time=%.1f\n", step, rc, pass, nfail, skip, en - st
	} else if (kind == "info") {
		printf "step %s kind=info rc=%s pass=- fail=- skip=- time=%.1f\n", step, rc, en - st
	}
	ended[step] = 1; in_step = 0
	next
}
function flush_detail(t,    i) {
	detail[++ndetail] = "--- " step ": " t
	for (i = 1; i <= log_n; i++) detail[++ndetail] = "    " logl[i]
}
in_step && kind == "gtest" {
	if ($0 ~ /^\[ RUN      \] /) { running = test_name($0); log_n = 0; next }
	if ($0 ~ /^\[       OK \] .* ms\)$/) { pass++; running = ""; next }
	if ($0 ~ /^\[  SKIPPED \] .* ms\)$/) { skip++; running = ""; next }
	if ($0 ~ /^\[  FAILED  \] .* ms\)$/) {
		nfail++; fail(step ": " test_name($0)); flush_detail(test_name($0)); running = ""; next
	}
	if (running != "" && log_n < 40) logl[++log_n] = $0
}
in_step && kind != "gtest" { next }
END {
	if (!started) fail("no results from the guest (did it boot? see console.log)")
	else if (in_step) fail(step ": did not finish (guest died or timed out)" (running != "" ? " in " running : ""))
	else if (!done) fail("guest did not reach the end of its plan")
	if (boot != "") printf "boot %.1f\n", boot
	for (i = 1; i <= nfailed; i++) print "failed " failed[i]
	if (ndetail) { print "detail-begin"; for (i = 1; i <= ndetail; i++) print detail[i]; print "detail-end" }
	print "verdict " (bad ? "FAIL" : "PASS")
	exit bad
}
