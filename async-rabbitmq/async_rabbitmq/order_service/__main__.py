from async_rabbitmq.order_service.app import main

main()
