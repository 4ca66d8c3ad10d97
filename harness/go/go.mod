module imagepolicy-lab.local/tools

go 1.26
