module mewz.example/hello-go

go 1.22
