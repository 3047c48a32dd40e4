module github.com/gatehouse-dev/gatehouse/client

go 1.26.0
