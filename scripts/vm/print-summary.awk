# One kernel's block of the scripts/vmtest table, from its summary.txt (parse-results.awk).
/^kernel / { kernel = $2 }
/^wall / { wall = $2 }
/^boot / { boot = $2 }
/^step / {
	n++
	name[n] = $2
	for (i = 3; i <= NF; i++) { split($i, kv, "="); v[n, kv[1]] = kv[2] }
}
/^verdict / { verdict = $2 }
/^error / { verdict = "FAIL"; sub(/^error /, ""); note = $0 }
END {
	first = kernel
	printf "%-24s %-11s %6s %5s %5s %5s %8s  %s\n", first, "boot", "-", "-", "-", "-", (boot == "" ? "?" : boot "s"), "wall " wall
	for (i = 1; i <= n; i++)
		printf "%-24s %-11s %6s %5s %5s %5s %8s  %s\n", "", name[i], v[i, "rc"], v[i, "pass"], v[i, "fail"], v[i, "skip"], v[i, "time"] "s", (v[i, "kind"] == "info" ? "info only" : "")
	printf "%-24s %-11s %6s %5s %5s %5s %8s  %s\n", "", "=> " verdict, "", "", "", "", "", note
}
