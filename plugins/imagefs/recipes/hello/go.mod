module imagefs.example/hello

go 1.19
